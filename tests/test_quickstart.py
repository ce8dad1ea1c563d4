from experiments.quickstart import QuickConfig, run


def test_quick_run_reports_point_rc_and_attack(mnist):
    lines = []
    config = QuickConfig(rc_images=40, num_samples=50, attack_images=1,
                         binary_search_steps=2, max_iterations=50)
    figures = run(config, radius=0.1, log=lines.append)
    assert figures["point_test_accuracy"] > 0.99
    assert 0.9 <= figures["rc_slice_accuracy"] <= 1.0
    assert 0 <= figures["cw_l2_rc_success_rate"] <= figures["cw_l2_point_success_rate"] <= 1
    assert any("region-based" in line for line in lines)
