"""Sizes and thresholds of the engine, derived from the sample rate and the two user parameters.

Every size is stored in samples (``*_samples``) and derived from a duration in milliseconds that
is named in :meth:`EngineConfig.make`, so the engine behaves the same at 16 kHz and at 96 kHz.
The constants below are the tuned ones; each says what it was tuned on (the *training* split of
the bench corpus, bench/corpus.py, never its test split).
"""

from __future__ import annotations

from dataclasses import dataclass

from .params import CLICK_LEN_MS_RANGE, DeclickParams, check_sample_rate

#: Candidate threshold as a share of the user's threshold: the detector first collects every
#: event above ``candidate_ratio * detection_mult`` times the local error scale (high recall), and
#: the learned verifier (:mod:`declick.engine.verifier`) then decides which ones are clicks.
CANDIDATE_RATIO = 0.6
#: The longest burst repaired as a click, whatever ``click_len`` is: the API's own maximum of
#: ``click_len`` (30 ms); a real key click (several impacts and their ringing) lasts 5-30 ms, and
#: longer impulsive runs are a fricative or a note, not a click.
_LONGEST_CLICK_MS = CLICK_LEN_MS_RANGE[1]
#: The robust scale's window is four clicks long (so a click cannot raise its own scale), but at
#: most this: the verifier learned its features at the default 40 ms window, and over much longer
#: windows the lower scale lets through events it never saw (training split at click_len 30 ms,
#: 120 ms -> 60 ms: precision 0.975 -> 0.990, false spans 132 -> 53, worst click-free 31.8 -> 44.2
#: dB, keyboard/mouse/vinyl gains up 0.4-1.2 dB, recorded keys down 0.6 dB).
_SCALE_WINDOW_MAX_MS = 60.0
#: Hysteresis: a detected core grows over neighbours above this share of the user's threshold.
GROW_THRESHOLD_RATIO = 0.3


def _ms(sample_rate_hz: int, ms: float) -> int:
    return int(round(ms * sample_rate_hz / 1000.0))


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Everything the detector and the restorer need, built by keyword (see :meth:`make`).

    Attributes
    ----------
    sample_rate_hz : int
        Sample rate of the signal, in Hz.
    detection_mult : float
        The user's threshold, in multiples of the local robust scale of the prediction error.
    candidate_mult : float
        The looser threshold of the candidate stage (``CANDIDATE_RATIO * detection_mult``).
    detect_order : int
        Order of the AR models of the detector (about one coefficient per 0.5 ms, 10-40).
    detect_frame_samples : int
        Hop of the detector's AR fits (10 ms); each model is fitted on 20 ms just before (forward)
        or just after (backward) the frame it judges.
    scale_block_samples : int
        Block of the robust scale: the error's median is taken per block of 2.5 ms.
    scale_window_blocks : int
        Blocks in the sliding window over the block medians (odd; ``4 * click_len_ms`` within
        25-60 ms; the scale is a low percentile of them, see ``core.local_scale``).
    max_core_samples : int
        Longest run of above-threshold error that is a click on the detector's evidence alone
        (``click_len_ms``).
    long_core_samples : int
        Longest run that is still repaired when the verifier is sure of it (``3 * click_len_ms``,
        but at most 30 ms, and never less than ``max_core_samples``): a real key click is several
        impacts and their ringing, 5-30 ms in all.
    merge_gap_samples : int
        Above-threshold samples closer than this (1 ms, at least the AR order) form one event.
    pad_before_samples, pad_after_samples : int
        Margin added before and after a detected span before it is restored (0.1 ms each).
    restore_order : int
        Order of the signal's AR model in the restoration (about one coefficient per ms, 16-64).
    click_model_order : int
        Order of the click's own AR model (about one coefficient per 0.25 ms, 6-16).
    restore_context_samples : int
        Audio on each side of a span used to fit the restoration's signal model (20 ms).
    lookaround_samples : int
        Audio the streaming driver keeps on each side of a block so that every decision about a
        sample sees the same context whatever the block boundaries.
    hop_samples : int
        Block length of the streaming driver (at least 6 s): each block is analysed with its
        look-around on both sides (about 0.2 s each at the defaults), so a 3 s block spent 14 % of
        the detector's time on audio analysed twice; 6 s is about 10 % faster and costs a few MB.
    pitch_min_samples, pitch_max_samples : int
        Range of pitch periods (2.5-16 ms) searched when telling a glottal pulse from a click.
    onset_gap_samples, onset_window_samples : int
        The level before an event is measured on ``onset_window`` (40 ms) ending ``onset_gap``
        (3 ms) before it; the level after it on a quarter of that window.
    grow_threshold_ratio : float
        Hysteresis ratio, see ``GROW_THRESHOLD_RATIO``.
    bridge_samples : int
        Dips below the growing threshold shorter than this (0.15 ms, zero crossings of the
        error) do not stop the growth.
    grow_base_samples, grow_factor : int
        A core of length ``L`` grows by at most ``grow_base + grow_factor * L`` samples per side
        (0.5 ms + 4 L), and never beyond ``max_core_samples``.
    rise_window_samples : int
        Window (5 ms) of the level before and after a restored span, for the final plosive check.
    context_window_samples : int
        Window (20 ms) on each side of a candidate used by the verifier's features.
    tail_block_samples : int
        Block (1 ms) by which a repaired span is extended over a click's decaying tail.
    """

    sample_rate_hz: int
    detection_mult: float
    candidate_mult: float
    detect_order: int
    detect_frame_samples: int
    scale_block_samples: int
    scale_window_blocks: int
    max_core_samples: int
    long_core_samples: int
    merge_gap_samples: int
    pad_before_samples: int
    pad_after_samples: int
    restore_order: int
    click_model_order: int
    restore_context_samples: int
    lookaround_samples: int
    hop_samples: int
    pitch_min_samples: int
    pitch_max_samples: int
    onset_gap_samples: int
    onset_window_samples: int
    grow_threshold_ratio: float
    bridge_samples: int
    grow_base_samples: int
    grow_factor: int
    rise_window_samples: int
    context_window_samples: int
    tail_block_samples: int

    @classmethod
    def make(cls, sample_rate: int, params: DeclickParams) -> EngineConfig:
        """The configuration for one sample rate and one set of user parameters.

        Parameters
        ----------
        sample_rate : int
            Sample rate in Hz (8-96 kHz, else :class:`~declick.engine.ParameterError`).
        params : DeclickParams
            ``detection_mult`` and ``click_len_ms``.
        """
        sr = check_sample_rate(sample_rate)
        detect_order = int(min(40, max(10, round(sr / 2000))))
        frame = _ms(sr, 10)
        block = max(8, _ms(sr, 2.5))
        scale_ms = min(max(4.0 * params.click_len_ms, 25.0), _SCALE_WINDOW_MAX_MS)
        scale_blocks = max(3, int(round(scale_ms / 2.5))) | 1
        max_core = _ms(sr, params.click_len_ms)
        long_core = max(max_core, min(3 * max_core, _ms(sr, _LONGEST_CLICK_MS)))
        restore_order = int(min(64, max(16, round(sr / 1000))))
        context = _ms(sr, 20)
        pad_before = max(2, _ms(sr, 0.1))
        pad_after = max(2, _ms(sr, 0.1))
        pitch_min, pitch_max = _ms(sr, 2.5), _ms(sr, 16)
        onset_gap, onset_win = _ms(sr, 3), _ms(sr, 40)
        max_region = long_core + pad_before + long_core + pad_after
        lookaround = (max_region + 2 * restore_order + context + 2 * scale_blocks * block + 4 * frame
                      + 4 * detect_order)
        lookaround = max(lookaround, max_core + onset_win + pitch_max + frame)
        return cls(
            sample_rate_hz=sr,
            detection_mult=params.detection_mult,
            candidate_mult=CANDIDATE_RATIO * params.detection_mult,
            detect_order=detect_order,
            detect_frame_samples=frame,
            scale_block_samples=block,
            scale_window_blocks=scale_blocks,
            max_core_samples=max_core,
            long_core_samples=long_core,
            merge_gap_samples=max(detect_order, _ms(sr, 1.0)),
            pad_before_samples=pad_before,
            pad_after_samples=pad_after,
            restore_order=restore_order,
            click_model_order=int(min(16, max(6, round(sr / 4000)))),
            restore_context_samples=context,
            lookaround_samples=lookaround,
            hop_samples=max(6 * sr, 4 * lookaround),
            pitch_min_samples=pitch_min,
            pitch_max_samples=pitch_max,
            onset_gap_samples=onset_gap,
            onset_window_samples=onset_win,
            grow_threshold_ratio=GROW_THRESHOLD_RATIO,
            bridge_samples=max(2, _ms(sr, 0.15)),
            grow_base_samples=_ms(sr, 0.5),
            grow_factor=4,
            rise_window_samples=_ms(sr, 5),
            context_window_samples=_ms(sr, 20),
            tail_block_samples=max(1, _ms(sr, 1.0)),
        )
