// The engine allocates many small, short-lived values per event
// (decisions, JSON properties); mimalloc serves those markedly faster than
// the system allocator (see BENCHMARKS.md and `storeflow-alloc`).
#[global_allocator]
static GLOBAL: storeflow_alloc::MiMalloc = storeflow_alloc::MiMalloc;

fn main() {
    storeflow_alloc::tune();
    let code = storeflow::run(
        std::env::args(),
        // Not locked for the whole run: `serve` and `demo` print from
        // worker threads too.
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
