//! How one statement line's amount is shared between a scheme's funders (the European social
//! fund, the State, the CAF, a commune) and the territory, which pays what no funder does.
//!
//! Each funder takes its share of the line in basis points; the cents are rounded by the largest
//! remainder method, so that the parts add up to the line exactly and no party is off by more than
//! a cent from its exact share. A funder whose cap is reached takes no more than what is left of
//! it: the rest falls to the next funder in order that has room, and finally to the territory —
//! never beyond a cap.

/// A funder's part of a scheme's split, as it stands for one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunderShare {
    /// Its share of each line, in basis points (10,000 = the whole line).
    pub basis_points: u32,
    /// What is left of its cap before this line, in cents; `None` without a cap.
    pub room_cents: Option<i64>,
}

/// The whole line in basis points.
pub const WHOLE: u32 = 10_000;

/// A line's amount shared: each funder's cents, in the order given, and the territory's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub funders: Vec<i64>,
    pub territory: i64,
}

impl Allocation {
    pub fn total(&self) -> i64 {
        self.funders.iter().sum::<i64>() + self.territory
    }
}

/// Why a split cannot share a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// The funders' shares add up to more than the whole line.
    OverWhole,
    /// A line's amount is negative.
    NegativeAmount,
}

/// Shares `amount_cents` between `funders` (in their order) and the territory.
pub fn allocate(amount_cents: i64, funders: &[FunderShare]) -> Result<Allocation, SplitError> {
    if amount_cents < 0 {
        return Err(SplitError::NegativeAmount);
    }
    let shares: u64 = funders.iter().map(|f| u64::from(f.basis_points)).sum();
    if shares > u64::from(WHOLE) {
        return Err(SplitError::OverWhole);
    }
    // The territory is the last party, with what the funders do not share.
    let territory_points = u64::from(WHOLE) - shares;
    let weights: Vec<u64> = funders
        .iter()
        .map(|f| u64::from(f.basis_points))
        .chain(std::iter::once(territory_points))
        .collect();
    let mut parts = largest_remainder(amount_cents, &weights);

    // Caps: what a funder cannot take falls to the next ones with room, then to the territory.
    let mut territory = parts.pop().expect("the territory's part");
    let mut overflow = 0i64;
    for (part, funder) in parts.iter_mut().zip(funders) {
        let room = funder.room_cents.map_or(i64::MAX, |r| r.max(0));
        let wanted = *part + overflow;
        *part = wanted.min(room);
        overflow = wanted - *part;
    }
    territory += overflow;
    Ok(Allocation {
        funders: parts,
        territory,
    })
}

/// `amount_cents` (0 or more) shared in proportion to `weights` (whose sum is more than 0): each
/// party gets the whole cents of its exact part, and the cents left go one each to the largest
/// remainders (the earlier party first among equal ones), so the parts add up to the amount.
fn largest_remainder(amount_cents: i64, weights: &[u64]) -> Vec<i64> {
    let whole: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if whole == 0 {
        return vec![0; weights.len()];
    }
    let amount = amount_cents.max(0) as u128;
    let mut parts: Vec<i64> = weights
        .iter()
        .map(|w| (amount * u128::from(*w) / whole) as i64)
        .collect();
    let mut left = amount_cents - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| {
        let remainder = amount * u128::from(weights[i]) % whole;
        (std::cmp::Reverse(remainder), i)
    });
    for &i in &order {
        if left == 0 {
            break;
        }
        if !(amount * u128::from(weights[i])).is_multiple_of(whole) {
            parts[i] += 1;
            left -= 1;
        }
    }
    debug_assert_eq!(left, 0, "the remainders add up to the missing cents");
    parts
}

/// A negative line (an adjustment that takes time back) shared among the parties that were paid
/// for the same source: each gives back in proportion to what it holds of it, never more than it
/// holds; what nobody holds is the territory's. `held` is each funder's cents of the source, in
/// order, then the territory's. Returns each party's (negative or zero) part, in the same order.
pub fn take_back(amount_cents: i64, held: &[i64]) -> Vec<i64> {
    let mut parts = vec![0; held.len()];
    if amount_cents >= 0 || held.is_empty() {
        if let Some(last) = parts.last_mut() {
            *last = amount_cents;
        }
        return parts;
    }
    let weights: Vec<u64> = held.iter().map(|h| h.max(&0).unsigned_abs()).collect();
    let holding: u64 = weights.iter().sum();
    let wanted = amount_cents.unsigned_abs();
    let from_holders = wanted.min(holding);
    let given = largest_remainder(i64::try_from(from_holders).unwrap_or(i64::MAX), &weights);
    for (part, cents) in parts.iter_mut().zip(given) {
        *part = -cents;
    }
    let rest = i64::try_from(wanted - from_holders).unwrap_or(i64::MAX);
    if let Some(last) = parts.last_mut() {
        *last -= rest;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn share(basis_points: u32) -> FunderShare {
        FunderShare {
            basis_points,
            room_cents: None,
        }
    }

    #[test]
    fn thirds_of_a_cent_go_to_the_largest_remainders() {
        // 100 cents in three equal thirds (3,333 points each, the territory 1 point).
        let split = allocate(100, &[share(3_333), share(3_333), share(3_333)]).unwrap();
        assert_eq!(split.funders, [34, 33, 33]);
        assert_eq!(split.territory, 0);
        assert_eq!(split.total(), 100);
        // 60 % and 40 % of an odd line: 599.4 and 399.6 cents.
        let split = allocate(999, &[share(6_000), share(4_000)]).unwrap();
        assert_eq!(
            (split.funders.as_slice(), split.territory),
            (&[599, 400][..], 0)
        );
    }

    #[test]
    fn the_territory_pays_what_no_funder_shares() {
        let split = allocate(2_000, &[share(5_000), share(2_500)]).unwrap();
        assert_eq!(
            (split.funders.as_slice(), split.territory),
            (&[1_000, 500][..], 500)
        );
        assert_eq!(
            allocate(2_000, &[]).unwrap(),
            Allocation {
                funders: vec![],
                territory: 2_000
            }
        );
    }

    #[test]
    fn a_reached_cap_passes_the_rest_to_the_next_funder_then_the_territory() {
        let capped = FunderShare {
            basis_points: 6_000,
            room_cents: Some(100),
        };
        let next = FunderShare {
            basis_points: 2_000,
            room_cents: Some(450),
        };
        // 60 % of 2,000 is 1,200, of which the first can take 100: 1,100 fall to the next, which
        // had 400 of its own and room for 450 in all: 1,050 go to the territory, beside its 400.
        let split = allocate(2_000, &[capped, next]).unwrap();
        assert_eq!(split.funders, [100, 450]);
        assert_eq!(split.territory, 1_450);
        let spent = FunderShare {
            basis_points: 10_000,
            room_cents: Some(0),
        };
        assert_eq!(allocate(700, &[spent]).unwrap().territory, 700);
    }

    #[test]
    fn impossible_splits_are_refused() {
        assert_eq!(
            allocate(100, &[share(6_000), share(5_000)]),
            Err(SplitError::OverWhole)
        );
        assert_eq!(allocate(-1, &[share(100)]), Err(SplitError::NegativeAmount));
    }

    #[test]
    fn a_negative_line_is_given_back_by_those_who_were_paid() {
        // 1,000 paid as 600 / 300 / 100 (territory); 250 taken back: 150 / 75 / 25.
        assert_eq!(take_back(-250, &[600, 300, 100]), [-150, -75, -25]);
        // More taken back than was paid for the source: the territory gives the rest.
        assert_eq!(take_back(-1_200, &[600, 300, 100]), [-600, -300, -300]);
        // Nothing was paid for it: the territory alone.
        assert_eq!(take_back(-90, &[0, 0, 0]), [0, 0, -90]);
        assert_eq!(take_back(-1, &[1, 1, 1]), [-1, 0, 0]);
    }

    proptest! {
        /// What is given back adds up to the negative amount, and no funder gives back more than
        /// it holds.
        #[test]
        fn what_is_given_back_adds_up(
            amount in -10_000_000i64..0,
            held in proptest::collection::vec(0i64..5_000_000, 1..6),
        ) {
            let parts = take_back(amount, &held);
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            for (part, h) in parts.iter().zip(&held).take(held.len() - 1) {
                prop_assert!(*part <= 0 && -*part <= *h);
            }
        }

        /// Whatever the shares and caps: the parts add up to the line, none is negative, none is
        /// beyond its room, and an uncapped funder is within a cent of its exact share.
        #[test]
        fn parts_add_up_and_respect_caps(
            amount in 0i64..10_000_000,
            raw in proptest::collection::vec((0u32..10_000, proptest::option::of(0i64..5_000_000)), 0..5),
        ) {
            let mut budget = WHOLE;
            let funders: Vec<FunderShare> = raw
                .into_iter()
                .map(|(points, room)| {
                    let points = points.min(budget);
                    budget -= points;
                    FunderShare { basis_points: points, room_cents: room }
                })
                .collect();
            let split = allocate(amount, &funders).unwrap();
            prop_assert_eq!(split.total(), amount);
            prop_assert!(split.territory >= 0);
            for (part, funder) in split.funders.iter().zip(&funders) {
                prop_assert!(*part >= 0);
                if let Some(room) = funder.room_cents {
                    prop_assert!(*part <= room);
                }
            }
            if funders.iter().all(|f| f.room_cents.is_none()) {
                for (part, funder) in split.funders.iter().zip(&funders) {
                    let exact = amount as f64 * f64::from(funder.basis_points) / f64::from(WHOLE);
                    prop_assert!((*part as f64 - exact).abs() < 1.0);
                }
            }
        }
    }
}
