//! Finding policy files (files named on the command line, and directory
//! trees of `*.yaml`, `*.yml`, `*.json`) and reading their text.

use awe_core::document::Format;
use std::fs;
use std::path::{Path, PathBuf};

/// A file to work on and the format it is read in.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub path: PathBuf,
    pub format: Format,
}

impl PolicyFile {
    /// The path as the user wrote it (joined with names found below a directory).
    pub fn display(&self) -> String {
        self.path.display().to_string()
    }
}

/// The files named or found under the given paths, in a stable order, and
/// the paths that could not be read (each a message).
pub fn collect(paths: &[PathBuf]) -> (Vec<PolicyFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => walk(path, &mut files, &mut errors),
            // A file named explicitly is read whatever its name: YAML reads JSON too.
            Ok(_) => files.push(PolicyFile { path: path.clone(), format: Format::from_path(path).unwrap_or(Format::Yaml) }),
            Err(e) => errors.push(format!("{}: {}", path.display(), describe(&e))),
        }
    }
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PolicyFile>, errors: &mut Vec<String>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(format!("{}: {}", dir.display(), describe(&e)));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => paths.push(e.path()),
            Err(e) => errors.push(format!("{}: {}", dir.display(), describe(&e))),
        }
    }
    paths.sort();
    for path in paths {
        // Hidden files and directories (.git, editor backups) are not policies.
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            walk(&path, files, errors);
        } else if let Some(format) = Format::from_path(&path) {
            files.push(PolicyFile { path, format });
        }
    }
}

/// What reading a file's text gave.
pub enum Text {
    Read(String),
    /// Not UTF-8: a problem in the file, not an I/O error.
    NotUtf8,
}

pub fn read_text(path: &Path) -> Result<Text, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {}", path.display(), describe(&e)))?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Text::Read(text),
        Err(_) => Text::NotUtf8,
    })
}

/// "no such file or directory" rather than "No such file or directory (os error 2)".
pub fn describe(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
        None => text,
    }
}

/// Writes through a temporary file in the same directory and renames it,
/// so an interrupted write never leaves half a policy.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("policy");
    let tmp = dir.join(format!(".{name}.awe-fmt-{}", std::process::id()));
    let result = fs::write(&tmp, text).and_then(|_| {
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        fs::rename(&tmp, path)
    });
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("{}: {}", path.display(), describe(&e))
    })
}
