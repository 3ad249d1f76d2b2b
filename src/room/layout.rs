//! The video grid's shape: how many columns and rows the tiles of a call take, by how many people are in
//! it. Pure; the page turns the answer into CSS grid templates.

/// The grid for `count` tiles: `(columns, rows)`. Chosen so tiles stay as large and as close to the
/// screen's landscape shape as possible: one tile fills the grid, two sit side by side, then 2×2, 3×2 and
/// 3×3. Zero tiles still make a 1×1 grid (the empty call shows a placeholder there).
pub fn grid(count: usize) -> (usize, usize) {
    let columns = match count {
        0..=1 => 1,
        2..=4 => 2,
        5..=9 => 3,
        n => (n as f64).sqrt().ceil() as usize,
    };
    let rows = count.max(1).div_ceil(columns);
    (columns, rows)
}

/// The CSS `grid-template-columns` and `grid-template-rows` for `count` tiles.
pub fn grid_templates(count: usize) -> (String, String) {
    let (columns, rows) = grid(count);
    (
        format!("repeat({columns}, minmax(0, 1fr))"),
        format!("repeat({rows}, minmax(0, 1fr))"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_reflows_for_one_to_eight_participants() {
        let expected = [
            (1, (1, 1)),
            (2, (2, 1)),
            (3, (2, 2)),
            (4, (2, 2)),
            (5, (3, 2)),
            (6, (3, 2)),
            (7, (3, 3)),
            (8, (3, 3)),
        ];
        for (count, shape) in expected {
            assert_eq!(grid(count), shape, "{count} participants");
        }
    }

    #[test]
    fn every_tile_has_a_cell_and_no_row_is_wasted() {
        for count in 1..=40 {
            let (columns, rows) = grid(count);
            assert!(
                columns * rows >= count,
                "{count}: {columns}x{rows} too small"
            );
            assert!(
                columns * (rows - 1) < count,
                "{count}: {columns}x{rows} has an empty row"
            );
            assert!(columns >= rows, "{count}: taller than wide");
        }
    }

    #[test]
    fn an_empty_call_is_one_cell() {
        assert_eq!(grid(0), (1, 1));
        assert_eq!(
            grid_templates(6),
            (
                "repeat(3, minmax(0, 1fr))".to_owned(),
                "repeat(2, minmax(0, 1fr))".to_owned()
            )
        );
    }
}
