//! The command line: every command, argument and help text of `awe`
//! (clap derive). Behaviour lives in one module per command.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "awe",
    version,
    about = "awe: check, format, compare and dry-run approval policies; look at and act on an awe database",
    long_about = "awe: check, format, compare and dry-run approval policies; look at and act on an awe database.\n\n\
                  policy lint|fmt|diff, simulate FILE and token work offline, on files, with the engine's own\n\
                  policy logic (awe-core). The other commands talk to a database with awe installed:\n\
                  --db URL, else DATABASE_URL, else the DATABASE_URL of .awe/dev.env in the checkout\n\
                  around the current directory; the tenant is --tenant or AWE_TENANT, the acting\n\
                  principal --actor or AWE_ACTOR.",
    after_help = "Examples:\n  awe policy lint policies/\n  awe policy fmt --check policies/*.yaml\n  \
                  awe policy diff old.yaml new.yaml\n  awe simulate expense-report.yaml --context '{\"amount\": 12500}' --requester sam\n  \
                  awe policy push --tenant expenses --activate expense-report.yaml\n  \
                  awe request show --tenant expenses 0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d --timeline --verify\n  \
                  awe inbox --tenant expenses mia\n  awe decide --tenant expenses --actor mia TASK approve -m 'receipts ok'\n  \
                  awe doctor\n  awe token --sub mia --role awe_approver --tenant expenses\n  \
                  awe completions bash > /etc/bash_completion.d/awe\n\n\
                  Exit codes: 0 success; 1 problems found, files differ, or the database refused the\n\
                  operation (an AWE-... error); 2 usage, I/O or connection errors."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lint, format and compare policy files; push them to a database and list what it holds
    #[command(subcommand, after_help = "Examples:\n  awe policy lint policies/ --format github\n  awe policy fmt --check policies/\n  \
                                        awe policy diff --tenant expenses expense.report@active policies/expense-report.yaml\n  \
                                        awe policy push --tenant expenses --activate policies/\n  awe policy ls --tenant expenses")]
    Policy(PolicyCommand),
    /// Dry-run a policy against a context: which stages run and who would be asked
    Simulate(SimulateArgs),
    /// Look at a request: its stages, tasks, audit trail and whether the trail verifies
    #[command(subcommand, after_help = "Examples:\n  awe request show --tenant expenses 0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d --timeline --verify")]
    Request(RequestCommand),
    /// A principal's tasks, with the actions they may take
    Inbox(InboxArgs),
    /// Decide a task: approve, reject, abstain, request_changes
    Decide(DecideArgs),
    /// Webhook deliveries: list them, replay dead or delivered ones
    #[command(subcommand, after_help = "Examples:\n  awe deliveries ls --tenant expenses --dead\n  \
                                        awe deliveries replay --tenant expenses --request 0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d")]
    Deliveries(DeliveriesCommand),
    /// The tenant's directory: import a document, sync from Keycloak, see the last sync
    #[command(subcommand, after_help = "Examples:\n  awe directory import --tenant expenses people.yaml\n  \
                                        awe directory sync --tenant expenses\n  awe directory status --tenant expenses --json")]
    Directory(DirectoryCommand),
    /// Check an installation: preload, worker, versions, settings, REST, backlog, dead letters
    Doctor(DoctorArgs),
    /// Mint a local login token (HS256, from the local stack's secret) for the REST API and the console
    Token(TokenArgs),
    /// Print a shell completion script
    #[command(after_help = "Examples:\n  awe completions bash > ~/.local/share/bash-completion/completions/awe\n  \
                            awe completions zsh > \"${fpath[1]}/_awe\"\n  awe completions fish > ~/.config/fish/completions/awe.fish\n\n\
                            Exit codes: 0 printed, 2 an unknown shell.")]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

/// Where the database is and who acts in it: every command that reads or
/// changes a database takes these.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Database")]
pub struct DbArgs {
    /// PostgreSQL connection URL or key=value string (else DATABASE_URL, else .awe/dev.env of the checkout)
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// The tenant to act for (else AWE_TENANT): sets awe.tenant
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// The principal to act as (else AWE_ACTOR): sets awe.actor
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,
    /// Say which database, tenant and actor are used (on stderr)
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check policy files the way awe checks them when they are saved
    Lint(LintArgs),
    /// Rewrite policy files in canonical form (field order, quoting, layout)
    Fmt(FmtArgs),
    /// Show what changed between two policy definitions, stage by stage
    Diff(DiffArgs),
    /// Store policy files in the database as new versions (and activate them)
    Push(PushArgs),
    /// List the tenant's policies and their versions
    Ls(PolicyLsArgs),
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
                        KEY@VERSION (or KEY@active) reads a version stored in the database (awe.get_policy);\n\
                        a path that exists is always a file.\n\n\
                        Examples:\n  awe policy diff expense-report.yaml expense-report-v2.yaml\n  \
                        awe policy diff old.json new.yaml --json\n  \
                        awe policy diff --tenant expenses expense.report@active expense-report.yaml   # before a push\n  \
                        awe policy diff --tenant expenses expense.report@1 expense.report@2\n\n\
                        Exit codes: 0 no differences, 1 differences, 2 errors (a stored version that does not\n\
                        exist included).")]
pub struct DiffArgs {
    /// The policy before: a file, or KEY@VERSION in the database
    #[arg(value_name = "A", value_parser = parse_policy_ref)]
    pub before: PolicyRef,
    /// The policy after: a file, or KEY@VERSION in the database
    #[arg(value_name = "B", value_parser = parse_policy_ref)]
    pub after: PolicyRef,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
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
pub fn parse_policy_ref(s: &str) -> Result<PolicyRef, String> {
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
#[command(after_help = "A FILE is simulated offline: nothing is written anywhere. Role and group rules resolve\n\
                        through --directory, a YAML or JSON file: {users: [{id, roles: [...], groups: [...]}],\n\
                        delegations: [{from, to}]}. Without it they resolve to nobody and the output says so,\n\
                        unless a database is named (--db or DATABASE_URL): then a file with role or group\n\
                        rules is simulated there, against the tenant's directory, as a draft inside a\n\
                        transaction that is rolled back (--offline keeps it on this machine).\n\
                        A KEY (or KEY@VERSION) that is not a file is a stored policy: awe.simulate in the\n\
                        database, the active version unless a version is named.\n\n\
                        Examples:\n  awe simulate expense-report.yaml --context ctx.json --requester sam --directory dir.yaml\n  \
                        awe simulate expense-report.yaml --context '{\"amount\": 500, \"submitter\": \"sam\", \"manager\": \"mia\"}'\n  \
                        awe simulate expense-report.yaml --context ctx.yaml --json\n  \
                        awe simulate --tenant expenses expense.report --context ctx.json --requester sam\n  \
                        awe simulate --tenant expenses expense.report@2 --context ctx.json\n\n\
                        Exit codes: 0 simulated, 1 the policy or the context has problems (or the database\n\
                        refused), 2 usage, I/O or connection errors.")]
pub struct SimulateArgs {
    /// The policy: a file, or KEY / KEY@VERSION stored in the database
    #[arg(value_name = "FILE|KEY")]
    pub file: PathBuf,
    /// The request context: a JSON or YAML file, or inline JSON starting with `{`
    #[arg(long, value_name = "FILE|JSON")]
    pub context: String,
    /// Who submits (for forbid_self_approval)
    #[arg(long, value_name = "ID")]
    pub requester: Option<String>,
    /// Users, their roles and groups, and delegations, for role and group rules (offline)
    #[arg(long, value_name = "FILE", conflicts_with = "offline")]
    pub directory: Option<PathBuf>,
    /// Simulate a file here even when a database is named
    #[arg(long)]
    pub offline: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
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
                        curl -H \"Authorization: Bearer $(awe token --sub sam --role awe_caller --tenant expenses)\" ...\n  \
                        awe token --sub mia --role awe_approver --tenant expenses --json | jq .claims.exp\n\n\
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
    /// Print {"token", "claims"} as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Each file is linted here first (nothing is sent when a file has problems), then stored\n\
                        with awe.import_policy as a new draft version: version 1 of a new key, the next version\n\
                        of an existing one. A file whose definition equals the latest stored version is not\n\
                        stored again (\"unchanged\"), so a push from CI can run on every commit. --activate\n\
                        then activates the pushed (or unchanged draft) version; requests already running stay\n\
                        on the version they started with.\n\n\
                        Examples:\n  awe policy push --tenant expenses expense-report.yaml\n  \
                        awe policy push --tenant expenses --activate policies/\n  \
                        AWE_TENANT=expenses awe policy push policies/ --json\n\n\
                        Exit codes: 0 pushed (or unchanged), 1 a file has problems or the database refused one\n\
                        (AWE-POLICY-INVALID with every problem and its path), 2 usage, I/O or connection errors.")]
pub struct PushArgs {
    /// Policy files or directories
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    /// Activate each pushed version
    #[arg(long)]
    pub activate: bool,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "One row per policy: its active version, its latest version and that version's status.\n\
                        --versions lists every version instead.\n\n\
                        Examples:\n  awe policy ls --tenant expenses\n  awe policy ls --tenant expenses --versions expense.report\n  \
                        awe policy ls --tenant expenses --json | jq '.[].policy_key'\n\n\
                        Exit codes: 0 listed, 1 the database refused, 2 usage or connection errors.")]
pub struct PolicyLsArgs {
    /// Only this policy key
    #[arg(value_name = "KEY")]
    pub key: Option<String>,
    /// Every version, not one row per policy
    #[arg(long)]
    pub versions: bool,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// A request's status, stages and tasks; its audit trail with --timeline; --verify checks the hash chain
    Show(RequestShowArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Reads awe.get_request; --timeline adds awe.timeline (every event, oldest first) and\n\
                        --verify awe.verify_timeline (the hash chain, and the request and task rows against it).\n\n\
                        Examples:\n  awe request show --tenant expenses 0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d\n  \
                        awe request show --tenant expenses 0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d --timeline --verify\n  \
                        awe request show --tenant expenses 0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d --json | jq .request.status\n\n\
                        Exit codes: 0 shown (and verified), 1 the trail does not verify or the database refused\n\
                        (AWE-REQUEST-NOT-FOUND), 2 usage or connection errors.")]
pub struct RequestShowArgs {
    /// The request id
    #[arg(value_name = "ID")]
    pub id: String,
    /// Also print the audit trail
    #[arg(long)]
    pub timeline: bool,
    /// Also verify the audit trail's hash chain
    #[arg(long)]
    pub verify: bool,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Reads awe.inbox: the principal's tasks and those delegated to them, oldest first, with\n\
                        the actions the engine allows each. PRINCIPAL defaults to --actor (AWE_ACTOR).\n\n\
                        Examples:\n  awe inbox --tenant expenses mia\n  awe inbox --tenant expenses fin.ana --status all --limit 200\n  \
                        awe inbox --tenant expenses --actor mia --json | jq -r '.[].task_id'\n\n\
                        Exit codes: 0 listed, 1 the database refused, 2 usage or connection errors.")]
pub struct InboxArgs {
    /// Whose inbox (default: the actor)
    #[arg(value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    /// Task status: open, approved, rejected, ... or all
    #[arg(long, default_value = "open", value_name = "STATUS")]
    pub status: String,
    /// Only tasks of requests of this policy
    #[arg(long, value_name = "KEY")]
    pub policy: Option<String>,
    /// How many tasks at most (pages of 500 are fetched as needed)
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: usize,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Calls awe.decide as --actor (AWE_ACTOR; without it, as the login role). The engine\n\
                        checks everything: the task must be open and the actor its assignee (or their delegate),\n\
                        the decision among its available actions, the comment and data what the stage asks\n\
                        (AWE-DECISION-INVALID lists each problem with its path; nothing is recorded).\n\n\
                        Examples:\n  awe decide --tenant expenses --actor mia 0190b5c2-... approve -m 'receipts ok'\n  \
                        awe decide --tenant expenses --actor fin.ana 0190b5c2-... approve --data '{\"approved_amount\": 900}'\n  \
                        awe decide --tenant expenses --actor mia 0190b5c2-... request_changes -m 'add the hotel bill'\n\n\
                        Exit codes: 0 recorded, 1 the engine refused (AWE-TASK-CLOSED, AWE-NOT-ASSIGNEE,\n\
                        AWE-DECISION-INVALID, ...), 2 usage or connection errors.")]
pub struct DecideArgs {
    /// The task id
    #[arg(value_name = "TASK")]
    pub task: String,
    /// approve, reject, abstain or request_changes
    #[arg(value_name = "DECISION")]
    pub decision: String,
    /// A comment (some stages require one)
    #[arg(short = 'm', long = "comment", value_name = "TEXT")]
    pub comment: Option<String>,
    /// Decision data, per the stage's decision_schema: inline JSON, or a JSON/YAML file
    #[arg(long, value_name = "JSON|FILE")]
    pub data: Option<String>,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// List webhook deliveries, newest first
    Ls(DeliveriesLsArgs),
    /// Send dead (or delivered) deliveries again, and wait for the worker to deliver them
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Reads awe.deliveries (the tenant's outbox).\n\n\
                        Examples:\n  awe deliveries ls --tenant expenses\n  awe deliveries ls --tenant expenses --dead\n  \
                        awe deliveries ls --tenant expenses --request 0190b5c2-... --json\n\n\
                        Exit codes: 0 listed, 1 the database refused, 2 usage or connection errors.")]
pub struct DeliveriesLsArgs {
    /// Only dead letters (deliveries that used all their attempts, or whose endpoint answered 410)
    #[arg(long, conflicts_with = "status")]
    pub dead: bool,
    /// Only deliveries in this state: pending, delivering, delivered, dead
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only the deliveries of this request
    #[arg(long, value_name = "ID")]
    pub request: Option<String>,
    /// How many at most
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: i64,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["delivery", "request", "since"])))]
#[command(after_help = "Calls awe.replay_deliveries: the dead and delivered deliveries named go back to pending\n\
                        with a fresh retry window (several filters narrow each other). Then, unless --no-wait,\n\
                        it waits with a progress bar until the worker has delivered them or they died again.\n\
                        A delivery held for a disabled endpoint waits until the endpoint is enabled.\n\n\
                        Examples:\n  awe deliveries replay --tenant expenses --delivery 4711\n  \
                        awe deliveries replay --tenant expenses --request 0190b5c2-...\n  \
                        awe deliveries replay --tenant expenses --since 2h --no-wait\n  \
                        awe deliveries replay --tenant expenses --since 2026-11-30T08:00:00Z\n\n\
                        Exit codes: 0 replayed (and delivered), 1 some died again, did not finish within\n\
                        --timeout, or the database refused; 2 usage or connection errors.")]
pub struct ReplayArgs {
    /// One delivery id
    #[arg(long, value_name = "ID")]
    pub delivery: Option<i64>,
    /// Every delivery of a request
    #[arg(long, value_name = "ID")]
    pub request: Option<String>,
    /// Deliveries created since TIME: a timestamp, or a duration (2h, 1d) meaning that long ago
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Return once they are queued
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the worker
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Replace the tenant's directory with a document (users, roles, groups)
    Import(DirectoryImportArgs),
    /// Ask the worker to sync the directory from Keycloak now, and wait for it
    Sync(DirectorySyncArgs),
    /// The tenant's directory source and its last sync
    Status(DirectoryStatusArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "The document (YAML or JSON) is the whole directory (docs/directory.md, Importing a\n\
                        document): {users: [{id, display_name, email, attributes, active, roles, groups}],\n\
                        roles: {role: [ids]}, groups: {path: [ids]}}. awe.import_directory applies the\n\
                        difference, so a user left out is deactivated; more than 25% deactivated at once is\n\
                        refused unless --force. Every problem is reported with its path; nothing is imported\n\
                        unless the whole document is valid. Refused while the tenant has a directory source.\n\n\
                        Examples:\n  awe directory import --tenant expenses people.yaml\n  \
                        awe directory import --tenant expenses people.json --force --json\n\n\
                        Exit codes: 0 imported, 1 the database refused (problems, the guard,\n\
                        AWE-DIRECTORY-MANAGED), 2 usage, I/O or connection errors.")]
pub struct DirectoryImportArgs {
    /// The directory document
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Apply even if it deactivates more than 25% of the principals
    #[arg(long)]
    pub force: bool,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Calls awe.sync_directory, then waits (a spinner on a terminal) until\n\
                        awe.directory_sync_status shows the worker finished a new attempt, and prints what\n\
                        it changed or why it failed.\n\n\
                        Examples:\n  awe directory sync --tenant expenses\n  awe directory sync --tenant expenses --force\n  \
                        awe directory sync --tenant expenses --no-wait --json\n\n\
                        Exit codes: 0 synced (or asked, with --no-wait), 1 the sync failed, did not finish\n\
                        within --timeout, or the database refused (AWE-NOT-FOUND: no directory source),\n\
                        2 usage or connection errors.")]
pub struct DirectorySyncArgs {
    /// Let this sync deactivate more than the source's max_deactivations
    #[arg(long)]
    pub force: bool,
    /// Return once the sync is asked for
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the worker
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Reads awe.directory_sync_status.\n\n\
                        Examples:\n  awe directory status --tenant expenses\n  awe directory status --tenant expenses --json\n\n\
                        Exit codes: 0 shown (the last sync succeeded), 1 the last sync failed or there is no\n\
                        source, 2 usage or connection errors.")]
pub struct DirectoryStatusArgs {
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "Each check prints one line: ok, warn or fail, what was found, and what to do.\n\
                        Checks: awe preloaded (shared_preload_libraries), awe.database is this database, the\n\
                        worker's heartbeat (warn after 10 s, fail after 60 s or none), library and SQL versions,\n\
                        key settings, the REST server answering GET / (--rest, else AWE_REST_URL, else\n\
                        .awe/dev.env), late webhook deliveries, dead letters, failing directory syncs.\n\
                        The worker, backlog and dead-letter views are for superusers: without that right the\n\
                        checks say so.\n\n\
                        Examples:\n  awe doctor\n  awe doctor --db postgres://postgres@db.example.com/app --rest https://awe.example.com/api\n  \
                        awe doctor --json | jq '.checks[] | select(.status != \"ok\")'\n\n\
                        Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 no connection.")]
pub struct DoctorArgs {
    /// The REST server's base URL (else AWE_REST_URL, else .awe/dev.env)
    #[arg(long, value_name = "URL")]
    pub rest: Option<String>,
    /// Output JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}
