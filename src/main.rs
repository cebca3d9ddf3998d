fn main() -> std::process::ExitCode {
    gitops_promote::cli::main()
}
