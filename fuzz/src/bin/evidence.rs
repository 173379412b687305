//! AFL++ entry for the `evidence` target: see [`portcullis_fuzz::evidence`].

fn main() {
    afl::fuzz!(|data: &[u8]| portcullis_fuzz::evidence(data));
}
