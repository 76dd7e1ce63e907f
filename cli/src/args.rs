//! The command line: every command, argument and help text of `awe`
//! (clap derive). Behaviour lives in one module per command.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "awe",
    version,
    about = "awe: check, format, compare and dry-run approval policies",
    long_about = "awe: check, format, compare and dry-run approval policies.\n\n\
                  These commands work offline, on files; the policy logic is the engine's own (awe-core).",
    after_help = "Examples:\n  awe policy lint policies/\n  awe policy fmt --check policies/*.yaml\n  \
                  awe policy diff old.yaml new.yaml\n  awe simulate expense-report.yaml --context '{\"amount\": 12500}' --requester sam\n  \
                  awe token --sub mia --role awe_approver --tenant expenses\n  \
                  awe completions bash > /etc/bash_completion.d/awe\n\n\
                  Exit codes: 0 success, 1 problems found (or files differ), 2 usage or I/O errors."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint, format and compare policy files
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Dry-run a policy against a context: which stages run and who would be asked
    Simulate(SimulateArgs),
    /// Mint a local login token (HS256, from the local stack's secret) for the REST API and the console
    Token(TokenArgs),
    /// Print a shell completion script
    #[command(after_help = "Examples:\n  awe completions bash > ~/.local/share/bash-completion/completions/awe\n  \
                            awe completions zsh > \"${fpath[1]}/_awe\"\n  awe completions fish > ~/.config/fish/completions/awe.fish")]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files the way awe checks them when they are saved
    Lint(LintArgs),
    /// Rewrite policy files in canonical form (field order, quoting, layout)
    Fmt(FmtArgs),
    /// Show what changed between two policy definitions, stage by stage
    Diff(DiffArgs),
}

/// `--format` choices of `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// file:line:column: path: message [code], then a summary
    Human,
    /// one JSON document with every file and problem
    Json,
    /// GitHub Actions workflow commands (::error file=…,line=…)
    Github,
}

/// `--format` choices of the other commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Reads *.yaml, *.yml and *.json files, and directories of them (recursively,\n\
                        skipping hidden ones). Every problem is reported with its JSON path and line.\n\n\
                        Examples:\n  awe policy lint examples/expense-report.yaml\n  awe policy lint policies/ --format github\n  \
                        awe policy lint policies/ --json | jq '.summary'\n\n\
                        Exit codes: 0 no problems, 1 problems, 2 a path could not be read.")]
pub struct LintArgs {
    /// Policy files or directories
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub format: LintFormat,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl LintArgs {
    pub fn output(&self) -> LintFormat {
        if self.json { LintFormat::Json } else { self.format }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "YAML files are rewritten as canonical YAML, JSON files as canonical pretty JSON.\n\
                        Comments are not kept (a policy is a JSON value; it has none): fmt says so when\n\
                        it rewrites a file that had some.\n\n\
                        Examples:\n  awe policy fmt policies/\n  awe policy fmt --check policies/    # in CI: lists what would change\n  \
                        awe policy fmt --stdout expense-report.yaml\n  awe policy fmt --to-yaml legacy.json     # writes legacy.yaml, removes legacy.json\n\n\
                        Exit codes: 0 done (or nothing to change), 1 --check found files to change, 2 errors.")]
pub struct FmtArgs {
    /// Policy files or directories
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; print the files that would change and exit 1 if any
    #[arg(long, conflicts_with = "stdout")]
    pub check: bool,
    /// Print the formatted text instead of writing it (one file)
    #[arg(long)]
    pub stdout: bool,
    /// Rewrite JSON files as YAML (F.json becomes F.yaml)
    #[arg(long)]
    pub to_yaml: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Stages are matched by name (a new name at the same position is a rename),\n\
                        rules by type and principal; rule order does not matter.\n\
                        A policy stored in a database will be named KEY@VERSION (needs --db, coming).\n\n\
                        Examples:\n  awe policy diff expense-report.yaml expense-report-v2.yaml\n  \
                        awe policy diff old.json new.yaml --json\n\n\
                        Exit codes: 0 no differences, 1 differences, 2 errors.")]
pub struct DiffArgs {
    /// The policy before: a file (or KEY@VERSION, with --db)
    #[arg(value_name = "A", value_parser = parse_policy_ref)]
    pub before: PolicyRef,
    /// The policy after: a file (or KEY@VERSION, with --db)
    #[arg(value_name = "B", value_parser = parse_policy_ref)]
    pub after: PolicyRef,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl DiffArgs {
    pub fn output(&self) -> OutputFormat {
        if self.json { OutputFormat::Json } else { self.format }
    }
}

/// Where a policy definition comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyRef {
    File(PathBuf),
    /// `key@version` in a database (`version` a number or `active`).
    Stored { key: String, version: String },
}

/// A path that exists is a file, whatever it looks like; otherwise
/// `key@version` names a stored policy; anything else is a (missing) file.
fn parse_policy_ref(s: &str) -> Result<PolicyRef, String> {
    let path = PathBuf::from(s);
    if path.exists() {
        return Ok(PolicyRef::File(path));
    }
    if let Some((key, version)) = s.rsplit_once('@') {
        let version_ok = version == "active" || (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()));
        if !key.is_empty() && !key.contains(std::path::MAIN_SEPARATOR) && version_ok {
            return Ok(PolicyRef::Stored { key: key.to_string(), version: version.to_string() });
        }
    }
    Ok(PolicyRef::File(path))
}

#[derive(Debug, Args)]
#[command(after_help = "Nothing is written anywhere. Role and group rules resolve through --directory, a\n\
                        YAML or JSON file: {users: [{id, roles: [...], groups: [...]}], delegations: [{from, to}]}.\n\
                        Without it they resolve to nobody, and the output says so.\n\n\
                        Examples:\n  awe simulate expense-report.yaml --context ctx.json --requester sam --directory dir.yaml\n  \
                        awe simulate expense-report.yaml --context '{\"amount\": 500, \"submitter\": \"sam\", \"manager\": \"mia\"}'\n  \
                        awe simulate expense-report.yaml --context ctx.yaml --json\n\n\
                        Exit codes: 0 simulated, 1 the policy or the context has problems, 2 usage or I/O errors.")]
pub struct SimulateArgs {
    /// The policy file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The request context: a JSON or YAML file, or inline JSON starting with `{`
    #[arg(long, value_name = "FILE|JSON")]
    pub context: String,
    /// Who submits (for forbid_self_approval)
    #[arg(long, value_name = "ID")]
    pub requester: Option<String>,
    /// Users, their roles and groups, and delegations, for role and group rules
    #[arg(long, value_name = "FILE")]
    pub directory: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl SimulateArgs {
    pub fn output(&self) -> OutputFormat {
        if self.json { OutputFormat::Json } else { self.format }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn policy_refs() {
        assert_eq!(parse_policy_ref("expense.report@3"), Ok(PolicyRef::Stored { key: "expense.report".into(), version: "3".into() }));
        assert_eq!(parse_policy_ref("expense.report@active"), Ok(PolicyRef::Stored { key: "expense.report".into(), version: "active".into() }));
        assert_eq!(parse_policy_ref("missing.yaml"), Ok(PolicyRef::File("missing.yaml".into())));
        assert_eq!(parse_policy_ref("a@b.yaml"), Ok(PolicyRef::File("a@b.yaml".into())));
        assert_eq!(parse_policy_ref("Cargo.toml"), Ok(PolicyRef::File("Cargo.toml".into())));
    }
}

/// The REST roles a token may carry (docs/rest.md, Roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum TokenRole {
    AweViewer,
    AweApprover,
    AweCaller,
    AweAdmin,
}

impl TokenRole {
    pub fn claim(self) -> &'static str {
        match self {
            TokenRole::AweViewer => "awe_viewer",
            TokenRole::AweApprover => "awe_approver",
            TokenRole::AweCaller => "awe_caller",
            TokenRole::AweAdmin => "awe_admin",
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "For the local stack only: the token is signed with the HS256 secret that `make up`\n\
                        writes to .awe/dev.env (or AWE_JWT_SECRET). Without such a secret it refuses;\n\
                        production tokens come from the identity provider (Keycloak), never from here.\n\n\
                        Examples:\n  awe token --sub mia --role awe_approver --tenant expenses\n  \
                        awe token --sub ada --role awe_admin --tenant expenses --ttl 1d\n  \
                        curl -H \"Authorization: Bearer $(awe token --sub sam --role awe_caller --tenant expenses)\" ...\n\n\
                        Exit codes: 0 printed, 2 no local secret or a bad argument.")]
pub struct TokenArgs {
    /// The principal (the `sub` claim)
    #[arg(long, value_name = "ID")]
    pub sub: String,
    /// The REST role (the `role` claim)
    #[arg(long, value_enum)]
    pub role: TokenRole,
    /// The tenant (the `tenant` claim)
    #[arg(long, value_name = "ID")]
    pub tenant: String,
    /// How long the token is valid: an awe duration (45s, 30m, 8h, 1d12h)
    #[arg(long, default_value = "8h", value_name = "DURATION")]
    pub ttl: String,
    /// The file holding AWE_JWT_SECRET when the variable is not set
    #[arg(long, default_value = ".awe/dev.env", value_name = "FILE")]
    pub env_file: PathBuf,
}
