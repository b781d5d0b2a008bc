// The engine allocates many small, short-lived values per event
// (decisions, JSON properties); mimalloc serves those markedly faster than
// the system allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = storeflow::run(
        std::env::args(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
