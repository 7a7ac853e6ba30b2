use super::*;
use proptest::prelude::*;

fn candidate(campaign: u32, ecpm: f64) -> Candidate {
    Candidate {
        source: Source::Campaign {
            id: campaign,
            creative: 0,
        },
        ecpm,
        quality: 1.0,
        tiebreak: mix(u64::from(campaign)),
        event_rate: 0.0,
    }
}

const SECOND: Rules = Rules {
    auction_type: 2,
    min_increment: 0.01,
    max_wins_per_campaign: 1,
};
const FIRST: Rules = Rules {
    auction_type: 1,
    ..SECOND
};

#[test]
fn second_price_charges_runner_up_plus_increment() {
    let mut imps = [ImpAuction {
        floor: 0.5,
        candidates: vec![candidate(1, 2.0), candidate(2, 3.0), candidate(3, 1.0)],
    }];
    let clearing = run(&mut imps, &SECOND)[0].expect("winner");
    assert_eq!(clearing.winner.source.campaign(), Some(2));
    assert_eq!(clearing.price, 2.01);
}

#[test]
fn second_price_alone_pays_the_floor_and_first_price_pays_its_bid() {
    let mut imps = [ImpAuction {
        floor: 0.5,
        candidates: vec![candidate(1, 2.0)],
    }];
    assert_eq!(
        run(&mut imps.clone(), &SECOND)[0].expect("winner").price,
        0.5
    );
    assert_eq!(run(&mut imps, &FIRST)[0].expect("winner").price, 2.0);
}

#[test]
fn below_floor_never_wins() {
    let mut imps = [ImpAuction {
        floor: 5.0,
        candidates: vec![candidate(1, 4.99)],
    }];
    assert_eq!(run(&mut imps, &SECOND)[0], None);
}

#[test]
fn a_campaign_wins_one_imp_and_the_next_best_takes_the_second() {
    let mut imps = [
        ImpAuction {
            floor: 0.0,
            candidates: vec![candidate(1, 3.0), candidate(2, 2.0)],
        },
        ImpAuction {
            floor: 0.0,
            candidates: vec![candidate(1, 3.0), candidate(2, 2.0)],
        },
    ];
    let result = run(&mut imps, &SECOND);
    assert_eq!(result[0].expect("imp 1").winner.source.campaign(), Some(1));
    let second = result[1].expect("imp 2");
    assert_eq!(second.winner.source.campaign(), Some(2));
    assert_eq!(
        second.runner_up, None,
        "the capped campaign does not set the price"
    );
    let relaxed = Rules {
        max_wins_per_campaign: 2,
        ..SECOND
    };
    assert_eq!(
        run(&mut imps, &relaxed)[1]
            .expect("imp 2")
            .winner
            .source
            .campaign(),
        Some(1)
    );
}

fn arbitrary_imp() -> impl Strategy<Value = ImpAuction> {
    let raw = proptest::collection::vec(
        (
            0u32..20,
            0.0f64..10.0,
            any::<u64>(),
            proptest::bool::weighted(0.3),
            0.01f64..=1.0,
        ),
        0..12,
    );
    (0.0f64..5.0, raw).prop_map(|(floor, raw)| {
        // As the decision builds them: at most one candidate per campaign per imp, and
        // external bids (indexed apart from campaigns) mixed in.
        let mut candidates: Vec<Candidate> = Vec::new();
        for (campaign, ecpm, tiebreak, external, quality) in raw {
            let source = if external {
                Source::External { index: campaign }
            } else {
                Source::Campaign {
                    id: campaign,
                    creative: 0,
                }
            };
            if candidates.iter().all(|c| c.source != source) {
                // Internal campaigns carry a quality weight, external bids rank by price.
                let quality = if external { 1.0 } else { quality };
                candidates.push(Candidate {
                    source,
                    ecpm,
                    quality,
                    tiebreak,
                    event_rate: 0.0,
                });
            }
        }
        ImpAuction { floor, candidates }
    })
}

proptest! {
    #[test]
    fn winners_pay_between_floor_and_their_ecpm(imps in proptest::collection::vec(arbitrary_imp(), 1..4), first in any::<bool>()) {
        let rules = if first { FIRST } else { SECOND };
        let mut auctions = imps.clone();
        for (imp, clearing) in imps.iter().zip(run(&mut auctions, &rules)) {
            if let Some(c) = clearing {
                prop_assert!(c.price <= c.winner.ecpm, "{c:?}");
                prop_assert!(c.price >= imp.floor, "{c:?} floor {}", imp.floor);
                prop_assert!(c.winner.ecpm >= imp.floor);
            }
        }
    }

    #[test]
    fn second_price_never_exceeds_first_price(imp in arbitrary_imp()) {
        let second = run(&mut [imp.clone()], &SECOND)[0];
        let first = run(&mut [imp], &FIRST)[0];
        prop_assert_eq!(second.map(|c| c.winner), first.map(|c| c.winner));
        if let (Some(s), Some(f)) = (second, first) {
            prop_assert!(s.price <= f.price);
        }
    }

    #[test]
    fn outcome_does_not_depend_on_candidate_order(imps in proptest::collection::vec(arbitrary_imp(), 1..4), seed in any::<u64>()) {
        let mut shuffled = imps.clone();
        for imp in &mut shuffled {
            let n = imp.candidates.len();
            for i in 0..n {
                let j = (mix(seed ^ i as u64) % n as u64) as usize;
                imp.candidates.swap(i, j);
            }
        }
        prop_assert_eq!(run(&mut imps.clone(), &SECOND), run(&mut shuffled, &SECOND));
    }

    #[test]
    fn no_campaign_wins_more_than_allowed(imps in proptest::collection::vec(arbitrary_imp(), 1..6), cap in 1u32..3) {
        let rules = Rules { max_wins_per_campaign: cap, ..SECOND };
        let mut auctions = imps;
        let result = run(&mut auctions, &rules);
        for id in 0..20u32 {
            let wins = result
                .iter()
                .flatten()
                .filter(|c| c.winner.source.campaign() == Some(id))
                .count();
            prop_assert!(wins <= cap as usize);
        }
    }
}

/// The straightforward version: sort everything, then clear; external bids are never
/// capped.
fn reference_run(imps: &mut [ImpAuction], rules: &Rules) -> Vec<Option<Candidate>> {
    let mut wins: Vec<u32> = Vec::new();
    imps.iter_mut()
        .map(|imp| {
            imp.candidates.sort_by(rank_order);
            let winner = *imp.candidates.iter().find(|c| {
                c.ecpm >= imp.floor
                    && c.source.campaign().is_none_or(|id| {
                        wins.iter().filter(|w| **w == id).count()
                            < rules.max_wins_per_campaign as usize
                    })
            })?;
            if let Some(id) = winner.source.campaign() {
                wins.push(id);
            }
            Some(winner)
        })
        .collect()
}

proptest! {
    #[test]
    fn partial_ranking_picks_the_same_winners_as_a_full_sort(imps in proptest::collection::vec(arbitrary_imp(), 1..6), cap in 1u32..3) {
        let rules = Rules { max_wins_per_campaign: cap, ..SECOND };
        let fast: Vec<Option<Candidate>> = run(&mut imps.clone(), &rules).into_iter().map(|c| c.map(|c| c.winner)).collect();
        prop_assert_eq!(fast, reference_run(&mut imps.clone(), &rules));
    }
}

#[test]
fn a_relevant_campaign_outranks_a_richer_irrelevant_one_and_pays_at_most_its_ecpm() {
    // Rank = eCPM × quality: 4 × 0.9 = 3.6 beats 10 × 0.1 = 1.0.
    let relevant = Candidate {
        quality: 0.9,
        ..candidate(1, 4.0)
    };
    let irrelevant = Candidate {
        quality: 0.1,
        ..candidate(2, 10.0)
    };
    let mut imps = [ImpAuction {
        floor: 0.5,
        candidates: vec![irrelevant, relevant],
    }];
    let clearing = run(&mut imps, &SECOND)[0].expect("cleared");
    assert_eq!(clearing.winner.source.campaign(), Some(1));
    assert_eq!(clearing.runner_up, Some(1.0));
    // The least eCPM still beating rank 1.0 (+ 0.01) at quality 0.9: 1.01 / 0.9.
    assert!((clearing.price - 1.01 / 0.9).abs() < 1e-6, "{clearing:?}");
    // Within the increment of the winner's rank (3.595 + 0.01 > 3.6): capped at its eCPM.
    let mut close = [ImpAuction {
        floor: 0.5,
        candidates: vec![
            Candidate {
                quality: 0.3595,
                ..candidate(2, 10.0)
            },
            Candidate {
                quality: 0.9,
                ..candidate(1, 4.0)
            },
        ],
    }];
    let clearing = run(&mut close, &SECOND)[0].expect("cleared");
    assert_eq!(clearing.winner.source.campaign(), Some(1));
    assert_eq!(clearing.price, 4.0);
}
