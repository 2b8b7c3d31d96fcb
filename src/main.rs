fn main() {
    std::process::exit(llmload::cli::main());
}
