//! The operations guide states what the installed system does: its settings
//! table is pg_settings' own view of awe's settings, and the PostgREST
//! configuration it explains is the file docker/compose.yaml runs.

use awe_e2e::connect;

const GUIDE: &str = include_str!("../docs/operations.md");

#[test]
fn the_settings_table_is_what_pg_settings_says() {
    let mut c = connect();
    let rows = c.query("select name, coalesce(boot_val, ''), coalesce(unit, ''), coalesce(min_val, ''), coalesce(max_val, ''), context,
                                 coalesce(array_to_string(enumvals, ' \\| '), '')
                          from pg_settings where name like 'awe.%' order by name", &[]).unwrap();
    assert!(rows.len() >= 20, "awe's settings are defined (awe preloaded)");
    let mut missing = Vec::new();
    for r in rows {
        let (name, boot, unit, min, max, context, values): (String, String, String, String, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6));
        let default = match (boot.as_str(), unit.as_str()) {
            ("", _) => "—".to_string(),
            (b, "") => format!("`{b}`"),
            (b, u) => format!("`{b} {u}`"),
        };
        // A number's range, or an enum's values.
        let range = match (min.is_empty(), values.is_empty()) {
            (false, _) => format!("{min} – {max}"),
            (true, false) => values,
            (true, true) => "—".to_string(),
        };
        let applies = match context.as_str() {
            "postmaster" => "restart",
            "sighup" | "superuser" => "reload",
            "user" => "session",
            other => panic!("{name}: context {other} has no word in the guide"),
        };
        let row = format!("| `{name}` | {default} | {range} | {applies} |");
        if !GUIDE.contains(&row) {
            missing.push(row);
        }
    }
    assert!(missing.is_empty(), "docs/operations.md, Settings, lacks or misstates:\n{}", missing.join("\n"));
}

#[test]
fn the_postgrest_configuration_is_the_file_compose_runs() {
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docker/postgrest.conf")).unwrap();
    let block = GUIDE.split("<!-- file: docker/postgrest.conf -->\n```ini\n").nth(1).and_then(|b| b.split("```").next())
        .expect("operations.md shows docker/postgrest.conf");
    assert_eq!(block, file, "docs/operations.md and docker/postgrest.conf differ");
    let compose = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docker/compose.yaml")).unwrap();
    assert!(compose.contains("./postgrest.conf:/etc/postgrest/postgrest.conf"), "compose mounts it");
}
