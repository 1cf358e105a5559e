//! Model runtime (placeholder until the transcription work lands).
