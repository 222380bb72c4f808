//! `zaqar`: the command-line client of a Zaqar v2 server (this one or OpenStack's). All of
//! it lives in [`zaqar::cli`].

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    zaqar::cli::main().await
}
