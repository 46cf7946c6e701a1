//! The host's seeded, checkpointable source of training batches.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::Dataset;

/// Mixed into the trial seed before seeding the data generator: ASCII `"gb:data\0"`.
pub const DATA_SEED_DOMAIN: u64 = u64::from_be_bytes(*b"gb:data\0");

/// The seed of a trial's data stream: `splitmix64(trial_seed ^ DATA_SEED_DOMAIN)`.
///
/// Why not the trial seed itself: a plugin that seeds its own `ChaCha8Rng` from the trial seed
/// would then draw the very numbers the data stream draws, correlating its noise with the data.
/// SplitMix64's finalizer is a bijection, so distinct trial seeds still give distinct data seeds.
pub fn data_seed(trial_seed: u64) -> u64 {
    let mut z = (trial_seed ^ DATA_SEED_DOMAIN).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A dataset plus the seeded generator that orders its batches.
///
/// Determinism: the batches depend only on the dataset, the trial seed and the sequence of `rows`
/// requested. [`DataStream::state`] captures the position exactly, and a stream restored with
/// [`DataStream::from_state`] continues bit for bit as the uninterrupted one would.
#[derive(Debug, Clone)]
pub struct DataStream<D = Box<dyn Dataset>> {
    dataset: D,
    rng: ChaCha8Rng,
    batches: u64,
}

impl<D: Dataset> DataStream<D> {
    /// A stream seeded with [`data_seed`]`(trial_seed)`.
    pub fn new(dataset: D, trial_seed: u64) -> Self {
        Self {
            dataset,
            rng: ChaCha8Rng::seed_from_u64(data_seed(trial_seed)),
            batches: 0,
        }
    }

    /// Continues from a saved state. Fails when the state was saved for a dataset of another
    /// name, because the batches would silently differ from the interrupted run's.
    pub fn from_state(dataset: D, state: DataStreamState) -> Result<Self, DataError> {
        let current = dataset.name();
        if state.dataset != current {
            return Err(DataError::StateMismatch {
                saved: state.dataset,
                current,
            });
        }
        let mut rng = ChaCha8Rng::from_seed(state.seed);
        rng.set_stream(state.stream);
        rng.set_word_pos(u128::from(state.word_pos_high) << 64 | u128::from(state.word_pos_low));
        Ok(Self {
            dataset,
            rng,
            batches: state.batches,
        })
    }

    /// Everything needed to continue this stream exactly, for a checkpoint.
    pub fn state(&self) -> DataStreamState {
        let word_pos = self.rng.get_word_pos();
        DataStreamState {
            dataset: self.dataset.name(),
            batches: self.batches,
            seed: self.rng.get_seed(),
            stream: self.rng.get_stream(),
            word_pos_high: (word_pos >> 64) as u64,
            word_pos_low: word_pos as u64,
        }
    }

    /// The next `rows` examples, row-major, `rows × example_len` values.
    pub fn next_batch(&mut self, rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.next_batch_into(rows, &mut out);
        out
    }

    /// Like [`DataStream::next_batch`], but clears and refills `out`, so a training loop can reuse
    /// one buffer instead of allocating a batch per step.
    pub fn next_batch_into(&mut self, rows: usize, out: &mut Vec<f32>) {
        out.clear();
        self.dataset.sample_into(&mut self.rng, rows, out);
        self.batches += 1;
    }

    /// The dataset batches are drawn from.
    pub fn dataset(&self) -> &D {
        &self.dataset
    }

    /// How many batches have been drawn since the stream was created (restored streams count on).
    pub fn batches_drawn(&self) -> u64 {
        self.batches
    }
}

/// The saved position of a [`DataStream`]: serialize it into a checkpoint.
///
/// The generator is stored as ChaCha's seed, stream and word position (the state rand_chacha
/// itself serializes), but with the 128-bit word position split into two `u64`s: RON (without its
/// `integer128` feature), TOML and others cannot hold a `u128`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataStreamState {
    dataset: String,
    batches: u64,
    seed: [u8; 32],
    stream: u64,
    word_pos_high: u64,
    word_pos_low: u64,
}

impl DataStreamState {
    /// Name of the dataset the state was saved for.
    pub fn dataset_name(&self) -> &str {
        &self.dataset
    }

    /// Batches drawn before the state was saved.
    pub fn batches_drawn(&self) -> u64 {
        self.batches
    }
}
