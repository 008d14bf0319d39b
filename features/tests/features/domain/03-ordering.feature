Feature: A pot's state is the fold of its events in business-time order

  Background:
    Given the retail estate

  @domain-3
  Scenario: Sale 1 at 12:00, then a delivery of 10 at 11:00: quantity 9, pending 0
    When "Store-001" sells 1 "p1" at "2024-12-07T12:00:00"
    And "Store-001" receives a delivery of 10 "p1" at "2024-12-07T11:00:00"
    Then the stock of "p1" at "Store-001" is 9.0, last updated "2024-12-07T12:00:00"

  @domain-3
  Scenario: Sale 5 at 11:00, sale 1 at 12:00, then a delivery of 10 at 11:30: quantity 9, pending -5
    When "Store-001" sells 5 "p1" at "2024-12-07T11:00:00"
    And "Store-001" sells 1 "p1" at "2024-12-07T12:00:00"
    And "Store-001" receives a delivery of 10 "p1" at "2024-12-07T11:30:00"
    Then the stock of "p1" at "Store-001" is 9.0, pending -5.0, last updated "2024-12-07T12:00:00"

  @domain-3 @domain-8
  Scenario: Delivery 100 at 08:00, sale 10 at 10:00, then a count of 70 at 09:55: quantity 60
    Given "WH01" received a delivery of 100 "p1" at "2024-12-07T08:00:00"
    When I send POST /locations/WH01/products/p1/sales with:
      """
      {"requestId":"sale-10","quantity":10,"soldAt":"2024-12-07T10:00:00"}
      """
    Then the response status is 201
    And the stock of "p1" at "WH01" is 90.0, last updated "2024-12-07T10:00:00"
    When "p1" at "WH01" is counted at 70 at "2024-12-07T09:55:00"
    Then the stock of "p1" at "WH01" is 60.0, last updated "2024-12-07T10:00:00"
    When I send the same request again
    Then the response is 201, byte for byte the first answer
    And the stock of "p1" at "WH01" is 60.0, last updated "2024-12-07T10:00:00"

  @domain-3 @domain-6
  Scenario: Move-in of 50 at 10:00, then a sale of 1 at 09:55: quantity 50, pending -1
    Given "WH01" received a delivery of 50 "p1" at "2024-12-07T09:00:00"
    When 50 "p1" are moved from "WH01" to "Store-001" at "2024-12-07T10:00:00"
    And "Store-001" sells 1 "p1" at "2024-12-07T09:55:00"
    Then the stock of "p1" at "Store-001" is 50.0, pending -1.0, last updated "2024-12-07T10:00:00"

  @domain-3
  Scenario: Events with the same business time fold in storage order: sale first
    When "Store-001" sells 5 "p1" at "2024-12-07T10:00:00"
    And "Store-001" receives a delivery of 10 "p1" at "2024-12-07T10:00:00"
    Then the stock of "p1" at "Store-001" is 10.0, pending -5.0, last updated "2024-12-07T10:00:00"

  @domain-3
  Scenario: Events with the same business time fold in storage order: delivery first
    When "Store-001" receives a delivery of 10 "p1" at "2024-12-07T10:00:00"
    And "Store-001" sells 5 "p1" at "2024-12-07T10:00:00"
    Then the stock of "p1" at "Store-001" is 5.0, last updated "2024-12-07T10:00:00"

  @domain-3
  Scenario: lastUpdated is the latest business time, never moved back by a late event
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T18:00:00"
    When "WH01" receives a delivery of 5 "p1" at "2024-12-01T08:00:00"
    Then the stock of "p1" at "WH01" is 15.0, last updated "2024-12-07T18:00:00"

  @domain-3
  Scenario: The server clock plays no part: business times far in the past or future are kept
    When "WH01" receives a delivery of 1 "p1" at "1999-01-01T00:00:00"
    And "WH01" receives a delivery of 1 "p2" at "2999-12-31T23:59:59.999"
    Then the stock of "p1" at "WH01" is 1.0, last updated "1999-01-01T00:00:00"
    And the stock of "p2" at "WH01" is 1.0, last updated "2999-12-31T23:59:59.999"

  @domain-3 @domain-7
  Scenario: A late count is placed at its business time; later events apply on top
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T12:00:00"
    When "p1" at "WH01" is counted at 70 at "2024-12-07T09:00:00"
    Then the stock of "p1" at "WH01" is 80.0, last updated "2024-12-07T12:00:00"

  @domain-3
  Scenario: Offsets are discarded before ordering
    When "Store-001" sells 1 "p1" at "2024-12-07T10:00:00+09:00"
    And "Store-001" receives a delivery of 10 "p1" at "2024-12-07T09:00:00Z"
    Then the stock of "p1" at "Store-001" is 9.0, last updated "2024-12-07T10:00:00"
