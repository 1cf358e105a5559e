//! One model per process, loaded when the first job needs it.

use std::sync::{Arc, Mutex};

/// A value loaded on first use and shared after that.
///
/// The lock is held while loading, so concurrent first users load once and
/// the others wait for that load; a failed load is not remembered, so the
/// next user tries again (installing the models fixes a running server).
#[derive(Debug)]
pub struct Lazy<T> {
    loaded: Mutex<Option<Arc<T>>>,
}

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Lazy<T> {
    /// An empty slot: nothing is loaded until [`Lazy::get_or_load`] is called.
    pub const fn new() -> Self {
        Lazy {
            loaded: Mutex::new(None),
        }
    }

    /// The loaded value, calling `load` first when there is none yet (or the last load failed).
    pub fn get_or_load<E>(&self, load: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        // A loader that panicked left nothing behind, so the poisoned slot is still valid.
        let mut slot = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = slot.as_ref() {
            return Ok(value.clone());
        }
        let value = Arc::new(load()?);
        *slot = Some(value.clone());
        Ok(value)
    }

    /// The value if it is loaded, without loading it.
    pub fn get(&self) -> Option<Arc<T>> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn concurrent_first_users_load_once() {
        let lazy = Lazy::new();
        let loads = AtomicUsize::new(0);
        let values: Vec<Arc<usize>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        lazy.get_or_load(|| {
                            // Long enough that the other threads arrive while it loads.
                            std::thread::sleep(Duration::from_millis(50));
                            Ok::<_, ()>(loads.fetch_add(1, Ordering::SeqCst) + 100)
                        })
                        .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(values.iter().all(|v| Arc::ptr_eq(v, &values[0])));
        assert_eq!(*values[0], 100);
    }

    #[test]
    fn a_failed_load_is_not_remembered() {
        let lazy: Lazy<String> = Lazy::new();
        assert_eq!(
            lazy.get_or_load(|| Err("not installed")),
            Err("not installed")
        );
        assert!(lazy.get().is_none());
        let loaded = lazy.get_or_load(|| Ok::<_, &str>("model".into())).unwrap();
        assert_eq!(*loaded, "model");
        // Once loaded, the loader is not called again.
        let again = lazy
            .get_or_load(|| -> Result<String, &str> { panic!("loaded twice") })
            .unwrap();
        assert!(Arc::ptr_eq(&loaded, &again));
    }

    #[test]
    fn a_panicking_loader_leaves_the_slot_usable() {
        let lazy: Lazy<u8> = Lazy::new();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lazy.get_or_load(|| -> Result<u8, ()> { panic!("loader bug") })
        }));
        assert!(caught.is_err());
        assert_eq!(*lazy.get_or_load(|| Ok::<_, ()>(7)).unwrap(), 7);
    }
}
