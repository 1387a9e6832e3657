//! The `sealer` binary: everything happens in `sealer::cli`.

fn main() {
    std::process::exit(sealer::cli::main());
}
