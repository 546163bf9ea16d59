# The SRE toolbox: Prometheus rules, man page, bash completion, Debian package.
# Included by the Makefile; `make toolbox-check` runs the fast, root-free checks.
.PHONY: toolbox-check rules-test man-test completion-test
toolbox-check: rules-test man-test completion-test

RULES := deploy/prometheus/zmqscope-rules.yml
MANPAGE := docs/zmqscope.8

rules-test:
	promtool check rules $(RULES)
	promtool test rules deploy/prometheus/zmqscope-rules.test.yml

man-test: $(BUILD)/zmqscope
	/usr/bin/python3 tests/toolbox/test_manpage.py $(BUILD)/zmqscope $(MANPAGE)

completion-test: $(BUILD)/zmqscope
	tests/toolbox/test_completion.sh $(BUILD)/zmqscope
