//! The `hearth` binary: parse the command line and hand over to [`hearth::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    hearth::cli::main()
}
