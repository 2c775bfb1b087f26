//! kubectl-lite: the everyday `kubectl`, written to be read. This file only parses the
//! command line (clap derive: the doc comments are the help text), sets up logging for
//! `-v`, runs the command and turns its error into kubectl's message and exit code.
//!
//! Run with: `kubectl-lite --server=http://127.0.0.1:8080 get pods`

use clap::Parser;

fn main() {
    let cli = kubectl_lite::Cli::parse();
    kubectl_lite::init_logging(cli.global.v);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(err) = runtime.block_on(kubectl_lite::run(cli)) {
        let message = err.to_string();
        if !message.is_empty() {
            eprintln!("{message}");
        }
        std::process::exit(1);
    }
}
