//! AFL++ entry for the `asciicast` target: see [`portcullis_fuzz::asciicast`].

fn main() {
    afl::fuzz!(|data: &[u8]| portcullis_fuzz::asciicast(data));
}
