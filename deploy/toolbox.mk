# The SRE toolbox: Prometheus rules, man page, bash completion, Debian package.
# Included by the Makefile; `make toolbox-check` runs the fast, root-free checks.
.PHONY: toolbox-check rules-test
toolbox-check: rules-test

RULES := deploy/prometheus/zmqscope-rules.yml
rules-test:
	promtool check rules $(RULES)
	promtool test rules deploy/prometheus/zmqscope-rules.test.yml
