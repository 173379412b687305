//! AFL++ entry for the `config` target: see [`portcullis_fuzz::config`].

fn main() {
    afl::fuzz!(|data: &[u8]| portcullis_fuzz::config(data));
}
