//! Interleaved PCM with its sample rate and channel count, checked once.

use crate::error::DspError;

/// Lowest sample rate accepted: below it there is no audio worth resampling.
pub const MIN_RATE: u32 = 1_000;
/// Highest sample rate accepted; a rate coprime with the target sizes the
/// resampler's FFT by the rate itself, so this bounds its memory too.
pub const MAX_RATE: u32 = 384_000;

/// Checks that `len` interleaved samples at `rate` with `channels` are PCM we can work on.
pub fn check_layout(len: usize, rate: u32, channels: u16) -> Result<(), DspError> {
    if channels == 0 {
        return Err(DspError::InvalidAudio("zero channels".into()));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(DspError::InvalidAudio(format!(
            "sample rate {rate} Hz is outside {MIN_RATE}..={MAX_RATE} Hz"
        )));
    }
    if !len.is_multiple_of(usize::from(channels)) {
        return Err(DspError::InvalidAudio(format!(
            "{len} samples do not divide into {channels} channels"
        )));
    }
    Ok(())
}

/// Interleaved f32 samples with their rate and channel count, whose layout is known to be valid.
///
/// Generic over the storage, so a borrowed slice (`AudioBuffer<&[f32]>`)
/// and an owned vector share the one type and the one check.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioBuffer<S = Vec<f32>> {
    samples: S,
    sample_rate: u32,
    channels: u16,
}

impl<S: AsRef<[f32]>> AudioBuffer<S> {
    /// Wraps `samples`, refusing zero channels, a rate outside [`MIN_RATE`]..=[`MAX_RATE`] or a partial frame.
    pub fn new(samples: S, sample_rate: u32, channels: u16) -> Result<Self, DspError> {
        check_layout(samples.as_ref().len(), sample_rate, channels)?;
        Ok(AudioBuffer {
            samples,
            sample_rate,
            channels,
        })
    }

    /// The interleaved samples.
    pub fn samples(&self) -> &[f32] {
        self.samples.as_ref()
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channels per frame.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples().len() / usize::from(self.channels)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples().is_empty()
    }

    /// A borrowed view of the same samples.
    pub fn view(&self) -> AudioBuffer<&[f32]> {
        AudioBuffer {
            samples: self.samples(),
            sample_rate: self.sample_rate,
            channels: self.channels,
        }
    }

    /// The samples of channel `c`, in order.
    pub fn channel(&self, c: usize) -> impl Iterator<Item = f32> + '_ {
        self.samples()
            .iter()
            .skip(c)
            .step_by(usize::from(self.channels))
            .copied()
    }

    /// Every channel as its own vector.
    pub fn planar(&self) -> Vec<Vec<f32>> {
        (0..usize::from(self.channels))
            .map(|c| self.channel(c).collect())
            .collect()
    }

    /// The storage, giving the buffer up.
    pub fn into_samples(self) -> S {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_checked_once_at_construction() {
        assert!(AudioBuffer::new(vec![0.0; 4], 44_100, 0).is_err());
        assert!(AudioBuffer::new(vec![0.0; 4], 0, 1).is_err());
        assert!(AudioBuffer::new(vec![0.0; 4], MAX_RATE + 1, 1).is_err());
        assert!(AudioBuffer::new(&[0.0f32; 3][..], 44_100, 2).is_err());
        let audio = AudioBuffer::new(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0][..], 48_000, 3).unwrap();
        assert_eq!(audio.frames(), 2);
        assert_eq!(audio.channel(1).collect::<Vec<_>>(), [2.0, 5.0]);
        assert_eq!(
            audio.planar(),
            [vec![1.0, 4.0], vec![2.0, 5.0], vec![3.0, 6.0]]
        );
        assert!(AudioBuffer::new(Vec::new(), 8_000, 2).unwrap().is_empty());
    }
}
