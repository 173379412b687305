//! Session recordings for Portcullis: terminals as asciicast v2, tunnels and file transfers as
//! pcap ([`pcap`]). Every vendor terminal session is written as an asciicast v2 file
//! (playable in asciinema-player) that keeps the exact bytes of both directions, and is sealed
//! with SHA-256 when it ends.
//!
//! - [`Recorder::create`] writes the header before the session starts and spawns a writer task;
//!   the cloneable [`Recorder`] queues output, input, resize and marker events through a bounded
//!   queue, off the data path. [`Recorder::failed`] lets the session end itself if storage fails.
//! - [`RecordingHandle::finish`] flushes, fsyncs and returns the [`Seal`]; [`seal_file`]
//!   recomputes it later for verification.
//! - [`read_cast`] parses a recording back; [`Cast::output_bytes`] gives the original bytes.
//!
//! Bytes that are not valid UTF-8 are stored as `\udc80`..`\udcff` escapes (see `escape`), so
//! nothing the server or the user sent is lost or altered in the recording.

mod direct;
mod error;
mod escape;
#[doc(hidden)]
pub mod fuzzing;
mod header;
pub mod pcap;
mod reader;
mod recorder;
mod seal;
mod task;
mod unescape;

pub use error::RecorderError;
pub use header::CastHeader;
pub use reader::{parse_cast, read_cast, Cast, CastEvent};
pub use recorder::{Recorder, RecordingHandle, BYTE_BUDGET, QUEUE_CAPACITY, SEND_TIMEOUT};
pub use seal::{seal_file, sha256_file, Hashing, Seal};
