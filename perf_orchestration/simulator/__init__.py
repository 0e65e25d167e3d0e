"""The plant simulator: deterministic source data for a scenario, served over loopback HTTP
as MES, QMS, ERP, CRM and the HR roster, with the scenario's faults injected.
"""

from perf_orchestration.simulator.dataset import Dataset, FaultRecord, RowMeta
from perf_orchestration.simulator.generate import generate_dataset
from perf_orchestration.simulator.server import SimulatorServer

__all__ = ["Dataset", "FaultRecord", "RowMeta", "SimulatorServer", "generate_dataset"]
