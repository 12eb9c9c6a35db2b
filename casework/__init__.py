"""The bureau's records: entity register, tasks, inspections, draws, complaints, cases, statistics."""
