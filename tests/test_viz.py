"""Tests for labkit.viz: each plot returns a Figure with the expected axes and images."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from labkit.train import History
from labkit.viz import (draw_boxes, overlay_heatmap, overlay_masks, plot_confusion_matrix, plot_history,
                        show_feature_maps, show_filters, show_images)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images_of(fig):
    return [im for ax in fig.axes for im in ax.get_images()]


def test_show_images_tensor_grid():
    x = torch.rand(5, 3, 8, 6)
    fig = show_images(x, titles=list("abcde"), ncols=2, suptitle="batch")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5  # the sixth cell of the 3x2 grid is removed
    ims = images_of(fig)
    assert len(ims) == 5 and ims[0].get_array().shape == (8, 6, 3)
    np.testing.assert_allclose(ims[2].get_array(), x[2].permute(1, 2, 0).numpy(), rtol=1e-6)
    assert [ax.get_title() for ax in fig.axes] == list("abcde")
    assert not any(ax.axison for ax in fig.axes)


def test_show_images_list_of_uint8_grey_arrays():
    imgs = [np.full((4, 4), v, dtype=np.uint8) for v in (0, 128, 255)]
    fig = show_images(imgs)
    ims = images_of(fig)
    assert len(ims) == 3 and ims[1].get_cmap().name == "gray"
    assert ims[1].get_clim() == (0, 255)  # not stretched: a flat image stays mid-grey


def test_show_images_rejects_out_of_range_and_bad_titles():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        show_images(torch.randn(2, 3, 4, 4) * 3)
    with pytest.raises(ValueError, match="titles"):
        show_images(torch.rand(2, 4, 4), titles=["only one"])


def test_plot_history_loss_and_metric_panels():
    a = History(train_loss=[1.0, 0.5], val_loss=[1.2, 0.7],
                metrics={"train_accuracy": [0.6, 0.8], "val_accuracy": [0.5, 0.7]}, name="base")
    b = History(train_loss=[0.9, 0.4, 0.3], val_loss=[], metrics={"train_accuracy": [0.7, 0.9, 0.95]})
    fig = plot_history([a, b], keys=("loss", "accuracy"))
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.get_lines()) == 3 and len(acc_ax.get_lines()) == 3  # b has no val curves
    line = loss_ax.get_lines()[1]
    assert line.get_label() == "base val"
    np.testing.assert_allclose(line.get_ydata(), [1.2, 0.7])
    np.testing.assert_allclose(line.get_xdata(), [1, 2])
    assert acc_ax.get_lines()[2].get_label() == "run 2 train"


def test_plot_history_single_history_full_key_and_unknown_key():
    h = History(train_loss=[1.0], val_loss=[1.0], metrics={"val_accuracy": [0.5]})
    fig = plot_history(h, keys=("val_accuracy",))
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 1
    with pytest.raises(KeyError, match="val_accuracy"):
        plot_history(h, keys=("f1",))


def test_show_feature_maps_first_n_channels():
    fmaps = torch.randn(1, 10, 6, 6)
    fig = show_feature_maps(fmaps, n=4, ncols=3, title="conv1")
    ims = images_of(fig)
    assert len(fig.axes) == len(ims) == 4
    np.testing.assert_allclose(ims[3].get_array(), fmaps[0, 3].numpy())
    assert len(images_of(show_feature_maps(fmaps[0], n=99))) == 10
    with pytest.raises(ValueError, match="fmaps"):
        show_feature_maps(torch.randn(2, 10, 6, 6))


def test_show_filters_rgb_normalised_per_filter():
    w = torch.randn(6, 3, 5, 5)
    w[1] = 7.0  # a constant filter must not divide by zero
    ims = images_of(show_filters(w))
    assert len(ims) == 6
    f0 = ims[0].get_array()
    assert f0.shape == (5, 5, 3) and f0.min() == 0.0 and f0.max() == pytest.approx(1.0)
    expected = (w[0] - w[0].min()) / (w[0].max() - w[0].min())
    np.testing.assert_allclose(f0, expected.permute(1, 2, 0).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ims[1].get_array(), 0.5)


def test_show_filters_grey_from_conv_module_and_n():
    conv = torch.nn.Conv2d(4, 8, 3)
    ims = images_of(show_filters(conv, n=5))
    assert len(ims) == 5 and ims[0].get_array().shape == (3, 3)
    mean = conv.weight[2].detach().mean(0)
    np.testing.assert_allclose(ims[2].get_array(), ((mean - mean.min()) / (mean.max() - mean.min())).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_overlay_heatmap_matches_hand_computation():
    img = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # 1x2 RGB: a red and a black pixel
    heat = np.array([[0.0, 1.0]])
    out = overlay_heatmap(img, heat, alpha=0.25, cmap="gray")
    # gray colormap: 0 -> black, 1 -> white
    np.testing.assert_allclose(out, [[[0.75, 0.0, 0.0], [0.25, 0.25, 0.25]]], atol=1e-6)
    jet = overlay_heatmap(img, heat)  # default jet: 0 -> dark blue (0, 0, 0.5)
    np.testing.assert_allclose(jet[0, 0], 0.5 * np.array([1.0, 0, 0]) + 0.5 * np.array([0, 0, 0.5]),
                               atol=1e-6)
    assert out.shape == (1, 2, 3) and 0 <= jet.min() and jet.max() <= 1


def test_overlay_heatmap_accepts_chw_tensor():
    img, heat = torch.rand(3, 4, 5), torch.rand(4, 5)
    out = overlay_heatmap(img, heat, alpha=0.0)
    np.testing.assert_allclose(out, img.permute(1, 2, 0).numpy(), atol=1e-6)


def test_overlay_heatmap_refuses_bad_range_and_shape():
    img = np.random.default_rng(0).random((4, 4, 3))
    with pytest.raises(ValueError, match="image values"):
        overlay_heatmap(img * 255, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="heatmap values"):
        overlay_heatmap(img, np.full((4, 4), 1.5))
    with pytest.raises(ValueError, match="heatmap values"):
        overlay_heatmap(img, np.full((4, 4), -0.5))
    with pytest.raises(ValueError, match="does not match"):
        overlay_heatmap(img, np.zeros((2, 2)))


def _annotations(ax):
    return [t.get_text() for t in ax.texts]


def test_confusion_matrix_counts_match_sklearn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    fig = plot_confusion_matrix(torch.as_tensor(y_true), y_pred, ["normal", "pneumonia", "other"])
    ax = fig.axes[0]
    expected = confusion_matrix(y_true, y_pred, labels=[0, 1, 2])
    assert _annotations(ax) == [str(v) for v in expected.ravel()]
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), expected)
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["normal", "pneumonia", "other"]


def test_confusion_matrix_normalized_on_given_axes():
    y_true, y_pred = [0, 0, 0, 1, 1], [0, 0, 1, 1, 1]
    fig, ax = plt.subplots()
    assert plot_confusion_matrix(y_true, y_pred, normalize=True, ax=ax) is fig
    expected = confusion_matrix(y_true, y_pred, normalize="true")
    assert _annotations(ax) == [f"{v:.2f}" for v in expected.ravel()] == ["0.67", "0.33", "0.00", "1.00"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1"]


def test_draw_boxes_one_rectangle_and_tag_per_box_coloured_by_class():
    image = torch.rand(3, 32, 48)
    boxes = torch.tensor([[2.0, 10.0, 20.0, 30.0], [5.0, 12.0, 40.0, 28.0], [30.0, 1.0, 47.0, 9.0]])
    ax = draw_boxes(image, boxes, labels=torch.tensor([0, 2, 0]), scores=torch.tensor([0.934, 0.5, 0.25]),
                    class_names=["circle", "square", "triangle"], title="predictions")
    rects = ax.patches
    assert len(rects) == 3 and len(ax.texts) == 3 and ax.get_title() == "predictions"
    assert [t.get_text() for t in ax.texts] == ["circle 0.93", "triangle 0.50", "circle 0.25"]
    assert rects[0].get_xy() == (2.0, 10.0) and rects[0].get_width() == 18.0 and rects[0].get_height() == 20.0
    assert rects[0].get_edgecolor() == rects[2].get_edgecolor() != rects[1].get_edgecolor()
    np.testing.assert_allclose(ax.get_images()[0].get_array(), image.permute(1, 2, 0).numpy())


def test_draw_boxes_on_given_axes_without_labels_and_one_colour():
    fig, ax = plt.subplots()
    boxes = np.array([[1, 1, 5, 5], [2, 2, 6, 6]], dtype=np.float32)
    image = np.zeros((8, 8, 3), np.uint8)
    assert draw_boxes(image, boxes, ax=ax, color="white") is ax
    assert len(ax.patches) == 2 and len(ax.texts) == 0
    assert all(r.get_edgecolor() == (1.0, 1.0, 1.0, 1.0) for r in ax.patches)
    assert len(draw_boxes(image, np.zeros((0, 4))).patches) == 0  # no detections: just the image
    ax = draw_boxes(image, boxes, labels=[3, 3])  # no names: the index is the tag
    assert [t.get_text() for t in ax.texts] == ["3", "3"]


def test_draw_boxes_rejects_bad_shapes():
    image = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        draw_boxes(image, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        draw_boxes(image, torch.zeros(2, 4), labels=[0])
    with pytest.raises(ValueError, match="class_names"):
        draw_boxes(image, torch.zeros(1, 4), labels=[2], class_names=["a", "b"])
    with pytest.raises(ValueError, match="image"):
        draw_boxes(torch.rand(2, 3, 8, 8), torch.zeros(1, 4))


def test_overlay_masks_blends_inside_masks_only_one_colour_each():
    image = np.full((4, 5, 3), 0.2, np.float32)
    masks = np.zeros((2, 4, 5), bool)
    masks[0, :2] = True
    masks[1, 1:3, 3:] = True  # overlaps mask 0 at row 1: the later mask is shown there
    out = overlay_masks(image, masks, alpha=0.5)
    assert out.shape == (4, 5, 3) and out.dtype == np.float32
    colours = [np.array(plt.get_cmap("tab10")(k)[:3]) for k in (0, 1)]
    np.testing.assert_allclose(out[0, 0], 0.5 * 0.2 + 0.5 * colours[0], atol=1e-6)
    np.testing.assert_allclose(out[2, 4], 0.5 * 0.2 + 0.5 * colours[1], atol=1e-6)
    np.testing.assert_allclose(out[1, 4], 0.5 * 0.2 + 0.5 * colours[1], atol=1e-6)
    np.testing.assert_allclose(out[3], 0.2)  # no mask: unchanged
    assert not np.allclose(out[0, 0], out[2, 4])


def test_overlay_masks_accepts_uint8_image_and_probability_masks():
    image = torch.full((3, 3, 3), 255, dtype=torch.uint8)
    probabilities = torch.tensor([[[[0.9, 0.1, 0.6], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]])  # (1, 1, H, W)
    out = overlay_masks(image, probabilities, alpha=1.0)
    colour = np.array(plt.get_cmap("tab10")(0)[:3])
    np.testing.assert_allclose(out[0, 0], colour, atol=1e-6)
    np.testing.assert_allclose(out[0, 2], colour, atol=1e-6)
    np.testing.assert_allclose(out[0, 1], 1.0)  # 0.1 <= 0.5: outside the mask


def test_overlay_masks_rejects_bad_shapes_and_alpha():
    with pytest.raises(ValueError, match="image's size"):
        overlay_masks(np.zeros((4, 4, 3)), np.zeros((1, 5, 4), bool))
    with pytest.raises(ValueError, match="alpha"):
        overlay_masks(np.zeros((4, 4, 3)), np.zeros((1, 4, 4), bool), alpha=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlay_masks(np.full((4, 4, 3), 3.0), np.zeros((1, 4, 4), bool))


def test_outline_boxes_draws_one_rectangle_per_box_on_the_given_axes():
    from matplotlib.patches import Rectangle

    from labkit.viz import outline_boxes
    fig, ax = plt.subplots()
    assert outline_boxes(ax, torch.tensor([[10.0, 20.0, 40.0, 30.0], [0, 0, 5, 5]]), color=["red", "blue"],
                         linestyle="--") is ax
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rects) == 2 and rects[0].get_xy() == (10.0, 20.0)
    assert (rects[0].get_width(), rects[0].get_height()) == (30.0, 10.0) and not rects[0].get_fill()
    assert rects[1].get_edgecolor()[:3] == pytest.approx((0.0, 0.0, 1.0)) and rects[0].get_linestyle() == "--"
    outline_boxes(ax, [[0, 0, 1, 1]], color=(0.0, 1.0, 0.0), fill=True, alpha=0.4)   # an RGB tuple is one colour
    assert ax.patches[-1].get_fill() and ax.patches[-1].get_alpha() == 0.4
    outline_boxes(ax, torch.zeros(0, 4))                                              # nothing to draw
    assert len(ax.patches) == 3
    with pytest.raises(ValueError, match="one per box"):
        outline_boxes(ax, [[0, 0, 1, 1]], color=["red", "blue"])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        outline_boxes(ax, [[0, 0, 1]])
    plt.close(fig)
