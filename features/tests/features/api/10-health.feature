Feature: Health probes

  Background:
    Given the retail estate

  @api-10
  Scenario Outline: Liveness and start-up probes are always up, with no checks: <probe>
    When I send GET <probe>
    Then the response is 200 with body {"status":"UP","checks":[]}
    And the response content type is "application/json"

    Examples:
      | probe           |
      | /health/live    |
      | /health/started |

  @api-10
  Scenario: Readiness lists its three checks in order, the file-backed Location API always up
    When I send GET /health/ready
    Then the response is 200 with body {"status":"UP","checks":[{"name":"locationApi","status":"UP"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}
    And the response content type is "application/json"

  @api-10 @auth-1
  Scenario Outline: Probes need no authentication, whatever the Authorization header says: <probe>
    Given <credentials>
    When I send GET <probe>
    Then the response status is 200

    Examples:
      | credentials                                       | probe           |
      | I send no Authorization header                    | /health/live    |
      | I send the Authorization header "Bearer garbage"  | /health/ready   |
      | I am a Read Only User                             | /health/started |

  @api-10
  Scenario: The worker tier is shown on the cluster view, every shard owned
    Given the service setting STOCK_SHARDS is "8"
    Then the cluster view shows all 8 shards owned by a live worker
