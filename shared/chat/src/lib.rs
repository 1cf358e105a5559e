//! Coda's chat: one tool registry (every job kind is a tool, and the tools that are not jobs
//! are registered beside them), the routing of a call (`cpu` in this process, `gpu` as a job),
//! the [`llm::Llm`] port with the built-in [`planner`], and the chat loop.

pub mod chat;
pub mod llm;
pub mod planner;
pub mod registry;
