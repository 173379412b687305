//! AFL++ entry for the `target` target: see [`portcullis_fuzz::target`].

fn main() {
    afl::fuzz!(|data: &[u8]| portcullis_fuzz::target(data));
}
