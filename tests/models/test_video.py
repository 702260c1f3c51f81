"""Models of the video4mri chapter: TSN, TSM (temporal shift), SlowFast-R50, 3D ResNet-18/50."""
import pytest
import torch
from torch import nn

import paperkit.models.video as video  # registers the seven builders
from paperkit.models import registry
from paperkit.models.parameters import count_parameters, parameter_table
from paperkit.models.slowfast import SlowFast
from paperkit.models.temporal_shift import TemporalShift, temporal_shift

MODELS = list(video.VIDEO4MRI_MODELS)

# Trainable parameters with num_classes=2, in_channels=1 (pinned so that an architecture change shows).
EXACT_PARAMS = {"tsn_r18": 11_171_266, "tsn_r50": 23_505_858, "tsm_r18": 11_171_266, "tsm_r50": 23_505_858,
                "slowfast_r50": 33_552_634, "r3d_18": 33_148_482, "r3d_50": 46_163_010}


@pytest.fixture(scope="module")
def built():
    """Every model built once (2 classes, 1 channel), shared by the tests below."""
    torch.manual_seed(0)
    return {name: video.create_video_model(name) for name in MODELS}


def test_the_seven_models_are_registered_for_the_chapter():
    assert set(MODELS) <= set(registry.list_models(chapter="video4mri"))
    for name in MODELS:
        assert registry.model_info(name).summary, name


@pytest.mark.parametrize("name", MODELS)
def test_forward_and_backward_on_a_tiny_clip(built, name):
    model = built[name].train()
    model.zero_grad(set_to_none=True)
    logits = model(torch.randn(2, 1, 8, 32, 32))
    assert logits.shape == (2, 2)
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 2  # the paper's weight decay targets fc
    nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: parameters without gradient (unused?): {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_trainable_parameters_match_table_2_within_one_percent(built, name):
    measured = count_parameters(built[name], trainable_only=True)
    paper = video.paper_parameters_m()[name]
    assert measured == EXACT_PARAMS[name]
    assert abs(measured / 1e6 - paper) / paper < 0.01, (name, measured)


def test_paper_counts_come_from_table_2_of_the_reference_csv():
    from paperkit import reference

    rows = reference.load("video4mri", metric="params").set_index("setting")
    assert set(rows.index) == set(video.PAPER_NAMES.values())
    assert (rows["source"] == "Table 2").all() and (rows["unit"] == "M").all()
    assert video.paper_parameters_m() == {"tsn_r18": 11.19, "tsn_r50": 23.56, "tsm_r18": 11.19, "tsm_r50": 23.56,
                                          "slowfast_r50": 33.61, "r3d_18": 33.16, "r3d_50": 46.16}
    table = parameter_table(["tsn_r18", "tsm_r18"], paper_m=video.paper_parameters_m(), num_classes=2,
                            in_channels=1)
    assert list(table["name"]) == ["tsn_r18", "tsm_r18"] and (table["relative_diff"].abs() < 0.01).all()
    assert list(table["paper_params_m"]) == [11.19, 11.19]


@pytest.mark.parametrize("name", ["tsn_r18", "r3d_18"])  # the two whose stem paperkit rebuilds
def test_three_channel_input(name):
    model = video.create_video_model(name, in_channels=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 32, 32)).shape == (1, 2)


def test_temporal_shift_against_hand_written_expectation():
    # 2 clips x 3 frames, 8 channels, 1x1 pixels; value = 100*clip + 10*frame + channel.
    x = torch.tensor([[[100 * b + 10 * t + c for c in range(8)] for t in range(3)] for b in range(2)],
                     dtype=torch.float32).view(6, 8, 1, 1)
    out = temporal_shift(x, num_segments=3, shift_div=4).view(2, 3, 8)  # fold = 2 channels each way
    expected_clip0 = [
        # ch 0-1 from frame t+1 | ch 2-3 from frame t-1 | ch 4-7 unchanged
        [10, 11, 0, 0, 4, 5, 6, 7],        # frame 0: forward-shifted channels are zero-padded
        [20, 21, 2, 3, 14, 15, 16, 17],    # frame 1
        [0, 0, 12, 13, 24, 25, 26, 27],    # frame 2: back-shifted channels are zero-padded
    ]
    assert out[0].tolist() == expected_clip0
    assert out[1].tolist() == [[110, 111, 0, 0, 104, 105, 106, 107],
                               [120, 121, 102, 103, 114, 115, 116, 117],
                               [0, 0, 112, 113, 124, 125, 126, 127]]  # nothing crosses from clip 0
    assert x.view(2, 3, 8)[0, 0, 0] == 0, "the input must not be modified"


def test_temporal_shift_rejects_frames_that_are_not_whole_clips():
    with pytest.raises(ValueError, match="num_segments=3"):
        temporal_shift(torch.zeros(4, 8, 1, 1), num_segments=3)


def test_tsm_wraps_conv1_of_every_block_and_tsn_none(built):
    tsm_blocks = [b for stage in ("layer1", "layer2", "layer3", "layer4")
                  for b in getattr(built["tsm_r50"].backbone, stage)]
    assert len(tsm_blocks) == 16 and all(isinstance(b.conv1, TemporalShift) for b in tsm_blocks)
    assert all(b.conv1.shift_div == 8 for b in tsm_blocks)
    assert not any(isinstance(m, TemporalShift) for m in built["tsn_r50"].modules())
    pp_care = video.create_video_model("tsm_r18", num_segments=16, shift_div=16)
    assert {m.shift_div for m in pp_care.modules() if isinstance(m, TemporalShift)} == {16}


def test_tsn_ignores_frame_order_but_tsm_does_not(built):
    torch.manual_seed(1)
    clip = torch.randn(1, 1, 8, 32, 32)
    reversed_clip = clip.flip(2)
    with torch.no_grad():
        tsn, tsm = built["tsn_r18"].eval(), built["tsm_r18"].eval()
        assert torch.allclose(tsn(clip), tsn(reversed_clip), atol=1e-5)  # average consensus is order-free
        assert not torch.allclose(tsm(clip), tsm(reversed_clip), atol=1e-5)  # the shift mixes neighbours


def test_frame_models_accept_other_clip_lengths_unless_fixed(built):
    with torch.no_grad():
        assert built["tsm_r18"].eval()(torch.randn(1, 1, 5, 32, 32)).shape == (1, 2)
    fixed = video.create_video_model("tsm_r18", num_segments=8)
    with pytest.raises(ValueError, match="num_segments=8.*T=4"):
        fixed(torch.randn(1, 1, 4, 32, 32))
    with pytest.raises(ValueError, match=r"tsn_r18 expects clips shaped \(B, C=1"):
        built["tsn_r18"](torch.randn(1, 3, 8, 32, 32))


def test_slowfast_pathways_and_lateral_fusion(built):
    model: SlowFast = built["slowfast_r50"].eval()
    seen = {}

    def frames_seen_by(path):
        def hook(module, inputs, output):
            seen[path] = inputs[0].shape[2]
        return hook

    hooks = [model.slow_stem.register_forward_hook(frames_seen_by("slow")),
             model.fast_stem.register_forward_hook(frames_seen_by("fast"))]
    with torch.no_grad():
        model(torch.randn(1, 1, 32, 32, 32))
    for h in hooks:
        h.remove()
    assert seen == {"slow": 4, "fast": 32}  # the paper's 4 slow / 32 fast frames
    assert [s[0].conv_a[0].in_channels for s in model.slow_stages] == [64 + 16, 256 + 64, 512 + 128, 1024 + 256]
    assert [s[0].conv_a[0].in_channels for s in model.fast_stages] == [8, 32, 64, 128]
    lateral = model.fusions[0].conv[0]
    assert (lateral.kernel_size, lateral.stride, lateral.out_channels) == ((5, 1, 1), (8, 1, 1), 16)
    assert len(model.fusions) == 4 and model.fc.in_features == 2048 + 256
    slow_t = [s[0].conv_a[0].kernel_size[0] for s in model.slow_stages]
    fast_t = [s[0].conv_a[0].kernel_size[0] for s in model.fast_stages]
    assert (model.slow_stem[0][0].kernel_size[0], *slow_t) == (1, 1, 1, 3, 3)
    assert (model.fast_stem[0][0].kernel_size[0], *fast_t) == (5, 3, 3, 3, 3)


def test_slowfast_needs_frames_divisible_by_alpha(built):
    with pytest.raises(ValueError, match="multiple of alpha=8"):
        built["slowfast_r50"](torch.randn(1, 1, 12, 32, 32))
    with pytest.raises(ValueError, match="num_segments=12"):
        video.create_video_model("slowfast_r50", num_segments=12)


def test_slow_pathway_reads_frames_spread_over_the_clip_as_the_reference_does():
    from paperkit.models.slowfast import slow_frame_indices

    assert slow_frame_indices(32, 8).tolist() == [0, 10, 20, 31]  # linspace(0, 31, 4), as pack_pathway_output
    assert slow_frame_indices(32, 8, "strided").tolist() == [0, 8, 16, 24]
    assert slow_frame_indices(8, 8).tolist() == [0]  # K = alpha: the slow pathway sees one frame
    with pytest.raises(ValueError, match="slow_sampling='random'"):
        slow_frame_indices(32, 8, "random")
    model = video.create_video_model("slowfast_r50").eval()
    seen = {}
    model.slow_stem.register_forward_hook(lambda m, inputs, out: seen.update(x=inputs[0]))
    clip = torch.arange(16, dtype=torch.float32).view(1, 1, 16, 1, 1).expand(1, 1, 16, 32, 32).contiguous()
    with torch.no_grad():
        model(clip)
    assert seen["x"][0, 0, :, 0, 0].tolist() == [0.0, 15.0]  # the first and the last frame


@pytest.mark.parametrize("name", ["r3d_18", "r3d_50"])
def test_3d_resnets_get_the_recipes_dropout_before_fc(name):
    model = video.create_video_model(name, dropout=0.4)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == [0.4] and isinstance(model.fc, nn.Linear)
    plain = video.create_video_model(name, dropout=0.0)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    assert list(model.state_dict()) == list(plain.state_dict())  # same parameters, same names
    with pytest.raises(ValueError, match="dropout=1.5"):
        video.create_video_model(name, dropout=1.5)


def test_create_video_model_passes_only_accepted_options():
    r3d = video.create_video_model("r3d_18", num_segments=8, dropout=0.4)  # num_segments ignored by 3D ResNets
    assert isinstance(r3d, nn.Module)
    assert video.create_video_model("tsn_r18", dropout=0.1).dropout.p == 0.1
    with pytest.raises(TypeError, match="no_such_option"):
        video.create_video_model("tsn_r18", no_such_option=1)
    with pytest.raises(ValueError, match="unknown video4mri model 'tsn_r34'"):
        video.create_video_model("tsn_r34")
