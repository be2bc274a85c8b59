//! The changes CSV export, safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`,
//! `@`, a tab or a carriage return gets a leading `'`, so it is shown as text, never run as a
//! formula (OWASP "CSV injection").

use crate::dto::ChangeDto;
use crate::error::ApiError;

pub(crate) const COLUMNS: [&str; 7] = [
    "entity",
    "action",
    "school_id",
    "key",
    "source_id",
    "fields",
    "note",
];

/// `cell` made inert for spreadsheets.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

pub(crate) fn changes_csv(changes: &[ChangeDto]) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::Unexpected(anyhow::anyhow!("writing CSV: {e}"));
    w.write_record(COLUMNS).map_err(fail)?;
    for c in changes {
        let entity = crate::dto::entity_kind(c.entity).as_str();
        let action = crate::dto::action(c.action).as_str();
        let fields = c.fields.join(";");
        let row = [
            entity,
            action,
            c.school_id.as_deref().unwrap_or(""),
            &c.key,
            c.source_id.as_deref().unwrap_or(""),
            &fields,
            c.note.as_deref().unwrap_or(""),
        ];
        w.write_record(row.iter().map(|cell| neutralise(cell).into_owned()))
            .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("writing CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formula_cells_are_quoted() {
        for (raw, out) in [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2", "'-2"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("plain", "plain"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(neutralise(raw), out);
        }
    }
}
