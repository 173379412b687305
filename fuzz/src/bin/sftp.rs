//! AFL++ entry for the `sftp` target: see [`portcullis_fuzz::sftp`].

fn main() {
    afl::fuzz!(|data: &[u8]| portcullis_fuzz::sftp(data));
}
