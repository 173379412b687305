//! AFL++ entry for the `lobby` target: see [`portcullis_fuzz::lobby`].

fn main() {
    afl::fuzz!(|data: &[u8]| portcullis_fuzz::lobby(data));
}
