"""alertflow: the alert firehose in, few, right, explained notifications out."""
