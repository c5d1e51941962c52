//! Collecting results: every matching chunk is scored, but a results page
//! lists documents, so only each document's best chunk is kept.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// Name of the fast field the grouping collector reads, and that breaks ties
/// between equal scores.
pub(in crate::search) const DOC_ID_FIELD: &str = "doc_id";

/// Collects every matching chunk but keeps only the best-scoring one per
/// document: a results page lists documents, and `total` counts them.
pub(in crate::search) struct BestChunkPerDocument;

type Best = HashMap<i64, (Score, DocAddress)>;

fn keep_best(best: &mut Best, doc_id: i64, score: Score, address: DocAddress) {
    match best.entry(doc_id) {
        Entry::Occupied(mut entry) => {
            if score > entry.get().0 {
                entry.insert((score, address));
            }
        }
        Entry::Vacant(entry) => {
            entry.insert((score, address));
        }
    }
}

impl Collector for BestChunkPerDocument {
    /// Best first; equal scores by document id.
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = BestChunkSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<BestChunkSegment> {
        Ok(BestChunkSegment {
            segment_ord,
            doc_ids: segment.fast_fields().i64(DOC_ID_FIELD)?,
            best: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segment_fruits: Vec<Best>) -> tantivy::Result<Self::Fruit> {
        let mut best = Best::new();
        for fruit in segment_fruits {
            for (doc_id, (score, address)) in fruit {
                keep_best(&mut best, doc_id, score, address);
            }
        }
        let mut ranked: Vec<(i64, Score, DocAddress)> = best
            .into_iter()
            .map(|(doc_id, (score, address))| (doc_id, score, address))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked
            .into_iter()
            .map(|(_, score, address)| (score, address))
            .collect())
    }
}

pub(in crate::search) struct BestChunkSegment {
    segment_ord: SegmentOrdinal,
    doc_ids: Column<i64>,
    best: Best,
}

impl SegmentCollector for BestChunkSegment {
    type Fruit = Best;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(doc_id) = self.doc_ids.first(doc) {
            keep_best(
                &mut self.best,
                doc_id,
                score,
                DocAddress::new(self.segment_ord, doc),
            );
        }
    }

    fn harvest(self) -> Best {
        self.best
    }
}
