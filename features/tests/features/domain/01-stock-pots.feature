Feature: Stock pots, one per product and location

  Background:
    Given the retail estate

  @domain-1
  Scenario: A pot that never received an event reads its initial values
    When I send GET /locations/WH02/products/p1?includeChildren=false
    Then the response is 200 with a body like:
      """
      {"locationId":"WH02","productId":"p1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}
      """

  @domain-1
  Scenario: Each product at each location has its own pot
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    And "WH02" received a delivery of 4 "p2" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "WH01" is 10.0, last updated "2024-12-07T08:00:00"
    And the stock of "p2" at "WH01" has never been updated
    And the stock of "p1" at "WH02" has never been updated
    And the stock of "p2" at "WH02" is 4.0, last updated "2024-12-07T09:00:00"

  @domain-1
  Scenario: Quantities follow double arithmetic: 15.5 + 2.25
    Given "WH01" received a delivery of 15.5 "p1" at "2024-12-07T08:00:00"
    And "WH01" received a delivery of 2.25 "p1" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "WH01" is 17.75

  @domain-1
  Scenario: Quantities follow double arithmetic: 10 - 1.25
    Given "Store-001" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    And "Store-001" sold 1.25 "p1" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "Store-001" is 8.75

  @domain-1 @domain-6
  Scenario: Quantities follow double arithmetic: 100.5 - 50.5
    Given "WH01" received a delivery of 100.5 "p1" at "2024-12-07T08:00:00"
    And 50.5 "p1" were moved from "WH01" to "WH02" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "WH01" is 50.0
    And the stock of "p1" at "WH02" is 50.5

  @domain-1 @domain-4
  Scenario: Aggregates follow double arithmetic: 150.5 + (50 + 30) + 30.5
    Given "DC01" received a delivery of 150.5 "p1" at "2024-12-07T08:00:00"
    And "WH01" received a delivery of 50 "p1" at "2024-12-07T08:00:00"
    And "WH01 Cold Room" received a delivery of 30 "p1" at "2024-12-07T08:00:00"
    And "WH02" received a delivery of 30.5 "p1" at "2024-12-07T08:00:00"
    Then the total of "p1" at "DC01" is 261.0
    And the total of "p1" at "WH01" is 80.0
