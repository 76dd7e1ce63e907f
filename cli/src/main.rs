//! `awe`, the command line of the awe approval engine. This file only
//! parses arguments and dispatches; each command has its own module, and
//! every policy decision comes from awe-core (offline) or from awe's SQL
//! functions (with a database), never from here.

// A Failure carries the whole database error (message, details, hint);
// it is returned once per command, so its size does not matter.
#![allow(clippy::result_large_err)]

mod args;
mod db;
mod deliveries;
mod diff;
mod directory;
mod directory_db;
mod doctor;
mod exit;
mod files;
mod fmt;
mod inbox;
mod lint;
mod policy_db;
mod request;
mod simulate;
mod table;
mod token;

use args::{Cli, Command, DeliveriesCommand, DirectoryCommand, PolicyCommand, RequestCommand};
use clap::{CommandFactory, Parser};

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Policy(PolicyCommand::Lint(a)) => lint::run(a),
        Command::Policy(PolicyCommand::Fmt(a)) => fmt::run(a),
        Command::Policy(PolicyCommand::Diff(a)) => diff::run(a),
        Command::Policy(PolicyCommand::Push(a)) => policy_db::push(a),
        Command::Policy(PolicyCommand::Ls(a)) => policy_db::ls(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Request(RequestCommand::Show(a)) => request::show(a),
        Command::Inbox(a) => inbox::inbox(a),
        Command::Decide(a) => inbox::decide(a),
        Command::Deliveries(DeliveriesCommand::Ls(a)) => deliveries::ls(a),
        Command::Deliveries(DeliveriesCommand::Replay(a)) => deliveries::replay(a),
        Command::Directory(DirectoryCommand::Import(a)) => directory_db::import(a),
        Command::Directory(DirectoryCommand::Sync(a)) => directory_db::sync(a),
        Command::Directory(DirectoryCommand::Status(a)) => directory_db::status(a),
        Command::Doctor(a) => doctor::run(a),
        Command::Token(a) => token::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "awe", &mut std::io::stdout());
            exit::SUCCESS
        }
    };
    std::process::exit(code);
}
