//! [`ScoreHistory`]: undo and redo over exact snapshots.

use crate::model::Score;

use super::{apply_edits, Edit, EditError};

/// One revision: the score as it stood and the edits that made it from the one before.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    /// The revision number (0 for the score the history started from).
    pub rev: u64,
    /// The whole score at this revision.
    pub score: Score,
    /// The edits that made it (empty for revision 0).
    pub edits: Vec<Edit>,
}

/// In-memory undo and redo of a score: every revision is an exact snapshot.
///
/// Revision numbers only grow: after an undo, applying new edits drops the
/// revisions that could have been redone and numbers the new one past every
/// number used so far, so a number never names two different scores. At most
/// [`ScoreHistory::limit`] revisions are kept (the oldest go first; the
/// current one always stays).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreHistory {
    revisions: Vec<Revision>,
    current: usize,
    next_rev: u64,
    limit: usize,
}

impl ScoreHistory {
    /// The number of revisions kept by [`ScoreHistory::new`].
    pub const DEFAULT_LIMIT: usize = 100;

    /// A history at revision 0, keeping up to [`Self::DEFAULT_LIMIT`] revisions.
    pub fn new(score: Score) -> ScoreHistory {
        ScoreHistory::with_limit(score, Self::DEFAULT_LIMIT)
    }

    /// A history at revision 0 that keeps up to `limit` revisions (at least 2).
    pub fn with_limit(score: Score, limit: usize) -> ScoreHistory {
        ScoreHistory {
            revisions: vec![Revision {
                rev: 0,
                score,
                edits: Vec::new(),
            }],
            current: 0,
            next_rev: 1,
            limit: limit.max(2),
        }
    }

    /// How many revisions are kept at most.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Applies edits to the current score (all or nothing) and makes the result the
    /// current revision; returns its number. Revisions that could be redone are dropped.
    pub fn apply(&mut self, edits: &[Edit]) -> Result<u64, EditError> {
        if edits.is_empty() {
            return Err(EditError {
                field: "edits".into(),
                message: "there are no edits to apply".into(),
            });
        }
        let score = apply_edits(self.current(), edits)?;
        self.revisions.truncate(self.current + 1);
        let rev = self.next_rev;
        self.next_rev += 1;
        self.revisions.push(Revision {
            rev,
            score,
            edits: edits.to_vec(),
        });
        if self.revisions.len() > self.limit {
            let drop = self.revisions.len() - self.limit;
            self.revisions.drain(..drop);
        }
        self.current = self.revisions.len() - 1;
        Ok(rev)
    }

    /// Steps back one revision; returns the new current number, or `None` at the oldest kept.
    pub fn undo(&mut self) -> Option<u64> {
        self.current = self.current.checked_sub(1)?;
        Some(self.rev())
    }

    /// Steps forward one revision after an undo; returns the new current number, or `None` at the newest.
    pub fn redo(&mut self) -> Option<u64> {
        if self.current + 1 >= self.revisions.len() {
            return None;
        }
        self.current += 1;
        Some(self.rev())
    }

    /// Whether [`Self::undo`] would step back.
    pub fn can_undo(&self) -> bool {
        self.current > 0
    }

    /// Whether [`Self::redo`] would step forward.
    pub fn can_redo(&self) -> bool {
        self.current + 1 < self.revisions.len()
    }

    /// The current score.
    pub fn current(&self) -> &Score {
        &self.revisions[self.current].score
    }

    /// The current revision number.
    pub fn rev(&self) -> u64 {
        self.revisions[self.current].rev
    }

    /// The newest revision number kept (above [`Self::rev`] after an undo).
    pub fn head(&self) -> u64 {
        self.revisions.last().map_or(0, |r| r.rev)
    }

    /// The edits that made the current revision (empty at revision 0).
    pub fn current_edits(&self) -> &[Edit] {
        &self.revisions[self.current].edits
    }

    /// Every revision kept, oldest first.
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// A kept revision by number.
    pub fn revision(&self, rev: u64) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.rev == rev)
    }
}
