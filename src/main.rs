use clap::Parser;

fn main() -> std::process::ExitCode {
    hvxform::cli::Cli::parse().run()
}
