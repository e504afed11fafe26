import pytest
from torch import nn

from mnistlib.recipes import get_recipe
from mnistlib.rf import format_rf_table, receptive_field, spatial_rows


def table(model):
    return [(r.size, r.r, r.j, r.start) for r in spatial_rows(receptive_field(model))]


def test_iteration1_by_hand():
    # layer:           conv     conv     pool     conv      pool      conv       GAP(3x3)    1x1 conv
    assert table(get_recipe("iteration1").build()) == [
        (26, 3, 1, 1.5), (24, 5, 1, 2.5), (12, 6, 2, 3.0), (10, 10, 2, 5.0),
        (5, 12, 4, 6.0), (3, 20, 4, 10.0), (1, 28, 12, 14.0), (1, 28, 12, 14.0)]


def test_iteration2_conv_head_sees_the_same_28_pixels():
    rows = table(get_recipe("iteration2").build())
    assert [r[1] for r in rows] == [3, 5, 6, 10, 12, 20, 28]
    assert rows[-1] == (1, 28, 4, 14.0)  # a 3x3 conv on the 3x3 map: stride 1, so the jump stays 4


def test_write_up_rf_claims_are_wrong():
    rows = spatial_rows(receptive_field(get_recipe("iteration1").build()))
    after_second_pool, next_conv = rows[4].r, rows[5].r
    assert (after_second_pool, next_conv) == (12, 20) != (24, 26)


def test_padding_stride_and_dilation():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2),
                          nn.Conv2d(4, 4, 3, dilation=2), nn.AvgPool2d(2))
    # dilation 2 makes the 3x3 kernel span 5. By hand, r' = r + (k-1)j, start' = start + ((k-1)/2 - p)j:
    #   pad 1:    r 1+2*1 = 3,  start 0.5 + (1-1)*1 = 0.5
    #   stride 2: r 3+2*1 = 5,  start 0.5 + 1*1 = 1.5,  then j = 2
    #   dilated:  r 5+4*2 = 13, start 1.5 + 2*2 = 5.5
    #   avgpool:  r 13+1*2 = 15, start 5.5 + 0.5*2 = 6.5, then j = 4
    assert table(model) == [(28, 3, 1, 0.5), (13, 5, 2, 1.5), (9, 13, 2, 5.5), (4, 15, 4, 6.5)]


def test_unknown_layer_warns_and_passes_through():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU(), nn.Conv2d(2, 2, 3))
    with pytest.warns(UserWarning, match="GELU"):
        rows = receptive_field(model)
    assert [r.r for r in rows] == [3, 3, 5]


def test_uneven_adaptive_pool_is_an_error():
    with pytest.raises(ValueError, match="uneven"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(4)))


def test_table_prints_one_line_per_layer():
    model = get_recipe("iteration1").build()
    text = format_rf_table(receptive_field(model))
    assert len(text.splitlines()) == 2 + len(list(model))
    assert "AdaptiveAvgPool2d" in text.splitlines()[-3] and " 28 " in text.splitlines()[-3]
