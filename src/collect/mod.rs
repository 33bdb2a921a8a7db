//! The collection cycle: which entities, which window, and the bounded pipeline
//! query → parse → encode → write.
