//! The recording tap of a terminal or command channel: its asciicast recorder and its live
//! feed, fed together. Kept with the connection state because warnings shown to the vendor
//! are written into the recordings of every open terminal.

use portcullis_core::live::LiveTap;
use portcullis_recorder::{Recorder, RecorderError};

/// A terminal's recording and its live feed, fed together: the recording first, so nothing
/// is shown live that was not recorded. Cheap to clone.
#[derive(Clone)]
pub(crate) struct CastTap {
    pub rec: Recorder,
    pub live: LiveTap,
}

impl CastTap {
    /// Bytes from the vendor.
    pub async fn input(&self, data: &[u8]) -> Result<(), RecorderError> {
        self.rec.input(data).await?;
        self.live.input(data);
        Ok(())
    }

    /// Bytes from the device.
    pub async fn output(&self, data: &[u8]) -> Result<(), RecorderError> {
        self.rec.output(data).await?;
        self.live.output(data);
        Ok(())
    }

    /// The vendor's terminal changed size.
    pub async fn resize(&self, cols: u16, rows: u16) {
        let _ = self.rec.resize(cols, rows).await;
        self.live.resize(cols, rows);
    }

    /// A notice the broker shows the vendor (`line`, as written to the terminal), kept as
    /// output and as a marker named `label`, so a replay can jump to it.
    pub async fn notice(&self, line: &[u8], label: &str) {
        let _ = self.rec.output(line).await;
        let _ = self.rec.marker(label).await;
        self.live.output(line);
        self.live.marker(label);
    }

    /// A marker alone (a moderator joined or left, input paused or resumed): nothing is
    /// added to the device's output.
    pub async fn marker(&self, label: &str) {
        let _ = self.rec.marker(label).await;
        self.live.marker(label);
    }

    /// Marks the end of the channel and closes the live feed.
    pub async fn end(&self, why: &str) {
        let label = format!("end: {why}");
        let _ = self.rec.marker(&label).await;
        self.live.marker(&label);
        self.live.end();
    }
}
