fn main() {
    std::process::exit(fedgen::cli::main());
}
