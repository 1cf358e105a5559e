//! Work spread over threads: the one way the model crates do it.
//!
//! Tasks are pulled from a shared queue by scoped threads and by the calling
//! thread itself, so a thread that cannot be started only leaves more work to
//! the others, results come back in task order whichever thread ran them, and
//! a panic in a task is an error instead of an abort of the whole job.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use crate::error::DspError;

/// The threads this machine runs at once (1 when that cannot be told).
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work` on every task, on up to `threads` threads counting this one; results in task order.
///
/// `name` names the threads (`coda-<name>`) and the error when a task panics.
pub fn run_tasks<T: Send, R: Send>(
    name: &str,
    tasks: Vec<T>,
    threads: usize,
    work: impl Fn(T) -> R + Sync,
) -> Result<Vec<R>, DspError> {
    let count = tasks.len();
    let threads = threads.clamp(1, count.max(1));
    // Reversed, so popping hands the tasks out in order.
    let queue = Mutex::new(tasks.into_iter().enumerate().rev().collect::<Vec<_>>());
    let work = &work;
    let queue = &queue;
    let drain = move || {
        let mut done = Vec::new();
        loop {
            // The lock is let go before the task is run.
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((i, task)) = next else {
                return done;
            };
            done.push((i, work(task)));
        }
    };
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name(format!("coda-{name}"))
                    .spawn_scoped(scope, drain)
                    .ok()
            })
            .collect();
        let mut parts = vec![catch_unwind(AssertUnwindSafe(drain)).map_err(|_| ())];
        parts.extend(handles.into_iter().map(|h| h.join().map_err(|_| ())));
        parts
    });
    let mut results: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for part in parts {
        let part = part.map_err(|()| DspError::ThreadPanicked(name.to_string()))?;
        for (i, r) in part {
            results[i] = Some(r);
        }
    }
    // Every task was popped by a thread that returned, so every slot is filled.
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| DspError::ThreadPanicked(name.to_string())))
        .collect()
}

/// Runs `f` over `items` split into `threads` contiguous chunks; results in chunk order.
pub fn map_chunks<T: Sync, R: Send>(
    name: &str,
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Result<Vec<R>, DspError> {
    if items.is_empty() {
        return Ok(vec![]);
    }
    let size = items.len().div_ceil(threads.max(1));
    run_tasks(name, items.chunks(size).collect(), threads, f)
}

/// Maps every item on up to `threads` threads; results in item order.
pub fn map<T: Sync, R: Send>(
    name: &str,
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Result<Vec<R>, DspError> {
    let parts = map_chunks(name, items, threads.min(items.len()).max(1), |chunk| {
        chunk.iter().map(&f).collect::<Vec<R>>()
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// Fills `out` in `threads` pieces of whole rows of `width`; `f` gets each piece's first row and the piece.
pub fn fill_rows<V: Send>(
    name: &str,
    out: &mut [V],
    width: usize,
    threads: usize,
    f: impl Fn(usize, &mut [V]) + Sync,
) -> Result<(), DspError> {
    let width = width.max(1);
    let rows = out.len() / width;
    let per = rows.div_ceil(threads.max(1)).max(1) * width;
    let pieces: Vec<(usize, &mut [V])> = out
        .chunks_mut(per)
        .enumerate()
        .map(|(i, chunk)| (i * per / width, chunk))
        .collect();
    run_tasks(name, pieces, threads, |(row, chunk)| f(row, chunk))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_task_order_on_any_thread_count() {
        let tasks: Vec<usize> = (0..100).collect();
        for threads in [0, 1, 2, 3, 8, 200] {
            let out = run_tasks("test", tasks.clone(), threads, |t| t * t).unwrap();
            assert_eq!(out, tasks.iter().map(|t| t * t).collect::<Vec<_>>());
        }
        assert!(run_tasks("test", Vec::<u8>::new(), 4, |t| t)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_panicking_task_is_an_error_naming_the_work() {
        for threads in [1, 4] {
            let err = run_tasks("resynthesis", (0..10).collect(), threads, |t: i32| {
                assert!(t != 7, "task 7 fails");
                t
            })
            .unwrap_err();
            assert_eq!(err, DspError::ThreadPanicked("resynthesis".into()));
            assert_eq!(err.to_string(), "a resynthesis thread panicked");
        }
    }

    #[test]
    fn chunks_maps_and_rows_cover_everything_once() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 3, 7] {
            let sums = map_chunks("test", &items, threads, |c| c.iter().sum::<u32>()).unwrap();
            assert_eq!(sums.iter().sum::<u32>(), items.iter().sum::<u32>());
            assert!(sums.len() <= threads);
            let doubled = map("test", &items, threads, |x| 2 * x).unwrap();
            assert_eq!(doubled, items.iter().map(|x| 2 * x).collect::<Vec<_>>());
            let mut out = vec![0usize; 10 * 37];
            fill_rows("test", &mut out, 10, threads, |first, rows| {
                for (r, row) in rows.chunks_mut(10).enumerate() {
                    row.fill(first + r);
                }
            })
            .unwrap();
            assert!(out
                .chunks(10)
                .enumerate()
                .all(|(r, row)| row.iter().all(|&v| v == r)));
        }
    }
}
