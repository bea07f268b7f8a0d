//! The request planner: which reads fetch a set of fields with few requests.
//!
//! Pure. Fields of one table are sorted by address and joined greedily into
//! reads while the gap between them is at most `max_gap` registers (bits for
//! coils and discrete inputs; the gap is read and thrown away) and the read
//! stays within `max_request` (itself at most 125 registers / 2000 bits).
//! `coalesce = false` gives one read per field, for devices that answer an
//! exception to any read touching an unimplemented register.
//!
//! Invariants: every field is covered by exactly one read, which contains all
//! of its registers; no read exceeds its table's protocol limit or the cap
//! (a field wider than the cap, which validation rejects, gets its own read).

use crate::profiles::modbus::{FieldSpec, Table};

/// How to coalesce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    pub coalesce: bool,
    /// Largest hole (registers) a read may span to join two fields.
    pub max_gap: u16,
    /// Longest register read; bit reads scale it by 16 (capped at 2000).
    pub max_request: u16,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            coalesce: true,
            max_gap: 10,
            max_request: crate::profiles::modbus::MAX_REGISTERS,
        }
    }
}

/// One request: `count` registers (or bits) from `start`, feeding `fields`
/// (indexes into the spec slice the plan was made from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub table: Table,
    pub start: u16,
    pub count: u16,
    pub fields: Vec<usize>,
}

impl Read {
    pub fn end(&self) -> u32 {
        self.start as u32 + self.count as u32
    }
}

fn cap(table: Table, opts: &PlanOptions) -> u32 {
    let regs = opts
        .max_request
        .clamp(1, crate::profiles::modbus::MAX_REGISTERS) as u32;
    if table.is_bits() {
        (regs * 16).min(crate::profiles::modbus::MAX_BITS as u32)
    } else {
        regs
    }
}

/// Plans the reads of the fields `which` (indexes into `specs`).
pub fn plan(specs: &[FieldSpec], which: &[usize], opts: &PlanOptions) -> Vec<Read> {
    let mut order: Vec<usize> = which.iter().copied().filter(|&i| i < specs.len()).collect();
    order.sort_by_key(|&i| (specs[i].table, specs[i].address, specs[i].width));
    let mut reads: Vec<Read> = Vec::new();
    for i in order {
        let s = &specs[i];
        let (start, end) = (s.address as u32, s.address as u32 + s.width.max(1) as u32);
        if let Some(r) = reads.last_mut() {
            let joinable = opts.coalesce
                && r.table == s.table
                && start <= r.end() + opts.max_gap as u32
                && end.max(r.end()) - r.start as u32 <= cap(s.table, opts);
            // Fields sharing registers (bits of one register) always join.
            let shared = r.table == s.table && end <= r.end();
            if joinable || shared {
                r.count = (end.max(r.end()) - r.start as u32) as u16;
                r.fields.push(i);
                continue;
            }
        }
        reads.push(Read {
            table: s.table,
            start: s.address,
            count: (end - start) as u16,
            fields: vec![i],
        });
    }
    reads
}

/// Splits one read into a read per field (the bits of one register stay
/// one read); [`halve`] cuts a refused read along these parts.
pub fn split(specs: &[FieldSpec], read: &Read) -> Vec<Read> {
    let opts = PlanOptions {
        coalesce: false,
        ..PlanOptions::default()
    };
    plan(specs, &read.fields, &opts)
}

/// Cuts a refused read in two halves of its fields (in address order; the
/// bits of one register stay together), each one read spanning its fields.
/// `None` when the read cannot be cut (one field, or bits of one register).
///
/// Halving instead of one read per field isolates a refusing register (or
/// a refused hole between fields) in about 2·log2(fields) requests, and the
/// halves that are answered stay coalesced: the plan grows by about log2 of
/// the fields, not by their number.
pub fn halve(specs: &[FieldSpec], read: &Read) -> Option<[Read; 2]> {
    let parts = split(specs, read);
    if parts.len() < 2 {
        return None;
    }
    let (a, b) = parts.split_at(parts.len() / 2);
    Some([join(a)?, join(b)?])
}

/// One read spanning `parts` (all of one table).
fn join(parts: &[Read]) -> Option<Read> {
    let first = parts.first()?;
    let start = parts.iter().map(|r| r.start).min()?;
    let end = parts.iter().map(Read::end).max()?;
    Some(Read {
        table: first.table,
        start,
        count: u16::try_from(end - start as u32).ok()?,
        fields: parts
            .iter()
            .flat_map(|r| r.fields.iter().copied())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::modbus::{ByteOrder, Kind};

    fn spec(table: Table, address: u16, kind: Kind) -> FieldSpec {
        FieldSpec {
            name: format!("f{address}"),
            table,
            address,
            width: kind.width(4),
            kind,
            order: ByteOrder::ABCD,
            bit: 0,
            scale: 1.0,
            offset: 0.0,
            unit: crate::model::Unit::None,
            group: None,
            rbe: None,
        }
    }

    fn all(specs: &[FieldSpec]) -> Vec<usize> {
        (0..specs.len()).collect()
    }

    fn assert_covers(specs: &[FieldSpec], reads: &[Read], opts: &PlanOptions) {
        let mut seen = vec![0; specs.len()];
        for r in reads {
            assert!(
                r.count as u32 <= cap(r.table, opts) || r.fields.len() == 1,
                "{r:?}"
            );
            for &f in &r.fields {
                seen[f] += 1;
                let s = &specs[f];
                assert_eq!(s.table, r.table);
                assert!(s.address >= r.start && s.address as u32 + s.width as u32 <= r.end());
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    }

    #[test]
    fn forty_scattered_registers_need_a_handful_of_requests() {
        // 40 fields of mixed types, 30 in holding and 10 in input registers,
        // with holes of 0 to 12 registers between them (~330 registers).
        let mut specs = Vec::new();
        let (mut h, mut inp) = (0u16, 0u16);
        for i in 0..40u16 {
            let kind = [Kind::U16, Kind::F32, Kind::U32, Kind::I16][i as usize % 4];
            let (table, a) = if i < 30 {
                (Table::Holding, &mut h)
            } else {
                (Table::Input, &mut inp)
            };
            specs.push(spec(table, *a, kind));
            *a += kind.width(1) + (i * 7) % 13;
        }
        let opts = PlanOptions {
            max_gap: 16,
            ..PlanOptions::default()
        };
        let reads = plan(&specs, &all(&specs), &opts);
        assert_covers(&specs, &reads, &opts);
        assert!(reads.len() <= 8, "{} reads: {reads:?}", reads.len());
        assert!(
            reads.len() >= 3,
            "~330 registers in two tables need at least 3 reads"
        );
    }

    #[test]
    fn no_read_exceeds_125_registers_or_2000_bits() {
        let regs: Vec<FieldSpec> = (0..300)
            .map(|i| spec(Table::Holding, i * 2, Kind::F32))
            .collect();
        let reads = plan(&regs, &all(&regs), &PlanOptions::default());
        assert_covers(&regs, &reads, &PlanOptions::default());
        assert!(reads.iter().all(|r| r.count <= 125));
        assert_eq!(reads.len(), 5); // 600 registers, 124 per read (62 f32s)
        let bits: Vec<FieldSpec> = (0..5000)
            .map(|i| spec(Table::Coil, i, Kind::Bool))
            .collect();
        let reads = plan(&bits, &all(&bits), &PlanOptions::default());
        assert!(reads.iter().all(|r| r.count <= 2000));
        assert_eq!(reads.len(), 3);
    }

    #[test]
    fn gaps_wider_than_max_gap_split_reads() {
        let specs = vec![
            spec(Table::Holding, 0, Kind::U16),
            spec(Table::Holding, 5, Kind::U16),  // gap 4
            spec(Table::Holding, 20, Kind::U16), // gap 14
        ];
        let opts = PlanOptions {
            max_gap: 4,
            ..PlanOptions::default()
        };
        let reads = plan(&specs, &all(&specs), &opts);
        assert_eq!(reads.len(), 2);
        assert_eq!((reads[0].start, reads[0].count), (0, 6));
        assert_eq!((reads[1].start, reads[1].count), (20, 1));
    }

    #[test]
    fn per_device_cap_limits_request_size() {
        let specs: Vec<FieldSpec> = (0..10)
            .map(|i| spec(Table::Input, i * 2, Kind::U32))
            .collect();
        let opts = PlanOptions {
            max_request: 8,
            ..PlanOptions::default()
        };
        let reads = plan(&specs, &all(&specs), &opts);
        assert_covers(&specs, &reads, &opts);
        assert_eq!(reads.len(), 3);
        assert!(reads.iter().all(|r| r.count <= 8));
    }

    #[test]
    fn coalescing_off_gives_one_read_per_field_but_keeps_shared_registers() {
        let mut specs: Vec<FieldSpec> =
            (0..4).map(|i| spec(Table::Holding, i, Kind::U16)).collect();
        let mut b = spec(Table::Holding, 3, Kind::Bit);
        b.bit = 4;
        specs[3] = spec(Table::Holding, 3, Kind::Bit);
        specs.push(b);
        let opts = PlanOptions {
            coalesce: false,
            ..PlanOptions::default()
        };
        let reads = plan(&specs, &all(&specs), &opts);
        assert_eq!(reads.len(), 4);
        assert_eq!(reads[3].fields.len(), 2);
    }

    #[test]
    fn split_turns_a_read_into_one_per_field() {
        let specs: Vec<FieldSpec> = (0..3)
            .map(|i| spec(Table::Holding, i * 4, Kind::U16))
            .collect();
        let reads = plan(&specs, &all(&specs), &PlanOptions::default());
        assert_eq!(reads.len(), 1);
        assert_eq!(split(&specs, &reads[0]).len(), 3);
    }

    #[test]
    fn halving_isolates_a_refused_field_and_keeps_its_neighbours_coalesced() {
        // Seven u16 fields at 0..7 in one read; the field at 3 is refused.
        let specs: Vec<FieldSpec> = (0..7).map(|i| spec(Table::Input, i, Kind::U16)).collect();
        let reads = plan(&specs, &all(&specs), &PlanOptions::default());
        assert_eq!(reads.len(), 1);
        let [a, b] = halve(&specs, &reads[0]).unwrap();
        assert_eq!((a.start, a.count, b.start, b.count), (0, 3, 3, 4));
        assert_eq!(a.fields, vec![0, 1, 2]);
        // b (3..7) is refused again and halves into 3..5 and 5..7; then 3..5
        // into 3 and 4: the refused register ends alone, its neighbours in
        // reads 0..3, 4 and 5..7.
        let [c, d] = halve(&specs, &b).unwrap();
        assert_eq!((c.start, c.count, d.start, d.count), (3, 2, 5, 2));
        let [e, f] = halve(&specs, &c).unwrap();
        assert_eq!((e.start, e.count, f.start, f.count), (3, 1, 4, 1));
        assert!(halve(&specs, &e).is_none());
    }

    #[test]
    fn halving_keeps_bits_of_one_register_together() {
        let mut x = spec(Table::Holding, 9, Kind::Bit);
        x.bit = 1;
        let specs = vec![spec(Table::Holding, 9, Kind::Bit), x];
        let reads = plan(&specs, &all(&specs), &PlanOptions::default());
        assert_eq!(reads.len(), 1);
        assert!(halve(&specs, &reads[0]).is_none());
        let three = vec![
            specs[0].clone(),
            specs[1].clone(),
            spec(Table::Holding, 12, Kind::U32),
        ];
        let reads = plan(&three, &all(&three), &PlanOptions::default());
        let [a, b] = halve(&three, &reads[0]).unwrap();
        assert_eq!((a.start, a.count, a.fields.len()), (9, 1, 2));
        assert_eq!((b.start, b.count), (12, 2));
    }
}
