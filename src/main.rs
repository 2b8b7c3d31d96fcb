#![forbid(unsafe_code)]

fn main() {
    std::process::exit(llmload::cli::main());
}
