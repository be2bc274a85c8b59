//! A [`sources::RawSink`] that keeps every page in memory, for assertions.

use sources::{RawSink, SourceError};

#[derive(Debug, Default)]
pub struct MemRaw {
    pub pages: Vec<(String, Vec<u8>)>,
}

impl MemRaw {
    pub fn names(&self) -> Vec<&str> {
        self.pages.iter().map(|(n, _)| n.as_str()).collect()
    }
}

#[async_trait::async_trait]
impl RawSink for MemRaw {
    async fn put(&mut self, name: String, body: Vec<u8>) -> Result<(), SourceError> {
        self.pages.push((name, body));
        Ok(())
    }
}
