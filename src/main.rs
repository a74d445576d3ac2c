use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // A Unix tool whose reader goes away (`hvxform detect DIR | head`) stops
    // quietly, as `cat` does: Rust ignores SIGPIPE, which turns the next
    // write into a panic. Outputs are written to temporary files and renamed,
    // so being stopped leaves no partial output under an output's name.
    #[cfg(target_os = "linux")]
    // SAFETY: restoring the default disposition of one signal, before any
    // thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    hvxform::cli::Cli::parse().run()
}
