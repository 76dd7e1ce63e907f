//! `awe`, the command line of the awe approval engine. This file only
//! parses arguments and dispatches; each command has its own module, and
//! every policy decision comes from awe-core, never from here.

mod args;
mod diff;
mod directory;
mod exit;
mod files;
mod fmt;
mod lint;
mod simulate;
mod token;

use args::{Cli, Command, PolicyCommand};
use clap::{CommandFactory, Parser};

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Policy(PolicyCommand::Lint(a)) => lint::run(a),
        Command::Policy(PolicyCommand::Fmt(a)) => fmt::run(a),
        Command::Policy(PolicyCommand::Diff(a)) => diff::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Token(a) => token::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "awe", &mut std::io::stdout());
            exit::SUCCESS
        }
    };
    std::process::exit(code);
}
